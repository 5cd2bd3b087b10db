"""`relay backfill`: read recent error events of each mapping through Sentry's API and spool them.

For organizations without error webhooks (the `error` resource needs a Business plan,
sentry-api.md §7) or after an outage. Events are found as `events check` finds them (Explore query
for the ids, then each event's detail, §4.3), checked with the same context rules as webhooks, and
added through the same spool, so an id the relay already holds (from a webhook or an earlier
backfill) is neither fetched again nor sent twice. A running relay forwards them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ld_sentry_cli.api_models import SentryEvent
from ld_sentry_cli.errors import LdsentryError, NotFoundError
from ld_sentry_cli.models import ProjectMapping
from ld_sentry_cli.relay.intake import EventStore, skip_reason, usable_context_keys
from ld_sentry_cli.relay.model import Destination, SpoolEntry, metric_event
from ld_sentry_cli.relay.spool import Spool
from ld_sentry_cli.relay.webhook import normalise_event_id


class BackfillSource(Protocol):
    """The Sentry client methods backfill needs."""

    async def list_error_event_ids(
        self, project_slug_or_id: str, environment: str, stats_period: str = "24h", limit: int = 100
    ) -> list[str]:
        """Ids of recent error events of one project+environment, newest first."""

    async def get_event(self, project_slug: str, event_id: str) -> SentryEvent:
        """One event with its contexts."""


class SeenStore(EventStore, Protocol):
    """The spool operations backfill uses."""

    async def seen(self, event_ids: Sequence[str]) -> set[str]:
        """The ids the spool holds or held."""


@dataclass(frozen=True)
class BackfillRow:
    """One mapping's backfill: events listed, already known, newly spooled, and skipped by reason."""

    mapping: ProjectMapping
    listed: int = 0
    already_seen: int = 0
    enqueued: int = 0
    skipped: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class BackfillReport:
    """Every mapping's row."""

    since: str
    rows: tuple[BackfillRow, ...]

    @property
    def enqueued(self) -> int:
        """Events added to the spool."""
        return sum(row.enqueued for row in self.rows)

    @property
    def ok(self) -> bool:
        """True when every mapping could be read."""
        return all(row.error is None for row in self.rows)


class _Progress:
    """Events fetched out of events to fetch, reported as (done, total) as the total becomes known."""

    def __init__(self, callback: Callable[[int, int], None] | None) -> None:
        self._callback = callback
        self.done = 0
        self.total = 0

    def grow(self, count: int) -> None:
        self.total += count
        self._report()

    def step(self) -> None:
        self.done += 1
        self._report()

    def _report(self) -> None:
        if self._callback is not None:
            self._callback(self.done, self.total)


class SpoolStore:
    """Backfill's store: the spool called directly (a command has no webhooks to keep answering)."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool

    async def add(self, entry: SpoolEntry) -> bool:
        """Store one entry; True if new."""
        return self._spool.add([entry])[0]

    async def seen(self, event_ids: Sequence[str]) -> set[str]:
        """The ids the spool holds or held."""
        return self._spool.seen(event_ids)


async def backfill(
    mappings: Sequence[ProjectMapping],
    source: BackfillSource,
    store: SeenStore,
    event_key: str,
    *,
    since: str,
    max_events: int,
    clock: Callable[[], float] = time.time,
    progress: Callable[[int, int], None] | None = None,
) -> BackfillReport:
    """Spool the recent usable events of every mapping; one row per mapping, errors included."""
    rows = []
    tally = _Progress(progress)
    for mapping in mappings:
        try:
            row = await _backfill_one(
                mapping,
                source=source,
                store=store,
                event_key=event_key,
                since=since,
                max_events=max_events,
                clock=clock,
                tally=tally,
            )
        except NotFoundError as err:
            row = BackfillRow(mapping, error=f"{err.message} (is the environment or project spelled as in Sentry?)")
        except LdsentryError as err:
            row = BackfillRow(mapping, error=err.message)
        rows.append(row)
    return BackfillReport(since, tuple(rows))


async def _backfill_one(
    mapping: ProjectMapping,
    *,
    source: BackfillSource,
    store: SeenStore,
    event_key: str,
    since: str,
    max_events: int,
    clock: Callable[[], float],
    tally: _Progress,
) -> BackfillRow:
    listed = await source.list_error_event_ids(mapping.sentry_project, mapping.sentry_environment, since, max_events)
    ids = list(dict.fromkeys(i for i in (normalise_event_id(raw) for raw in listed) if i))
    seen = await store.seen(ids)
    destination = Destination(mapping.ld_project, mapping.ld_environment)
    skipped: Counter[str] = Counter()
    enqueued = 0
    tally.grow(len(set(ids) - seen))
    for event_id in ids:
        if event_id in seen:
            continue
        event = await source.get_event(mapping.sentry_project, event_id)
        tally.step()
        keys = usable_context_keys(event.contexts)
        if keys is None:
            skipped[skip_reason(event.contexts)] += 1
            continue
        now = clock()
        entry = SpoolEntry(
            event_id=event_id,
            payload=metric_event(event_key, event.timestamp_ms or int(now * 1000), keys),
            received_at=now,
            destination=destination,
        )
        if await store.add(entry):
            enqueued += 1
        else:
            seen.add(event_id)  # a webhook delivered it meanwhile
    return BackfillRow(
        mapping,
        listed=len(ids),
        already_seen=len(seen & set(ids)),
        enqueued=enqueued,
        skipped=dict(skipped),
    )
