"""The relay's shared shapes: destinations, spooled events, batches, spool statistics, metric events.

Kept free of I/O so the intake, the spool, the forwarder, backfill and the CLI share them without
importing each other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Destination:
    """A LaunchDarkly project+environment: where the metric import API sends a batch."""

    ld_project: str
    ld_environment: str

    @property
    def label(self) -> str:
        """`project/environment`, for logs, tables and metric labels."""
        return f"{self.ld_project}/{self.ld_environment}"


@dataclass(frozen=True)
class SpoolEntry:
    """One accepted Sentry error, ready to forward: its metric event as JSON text and where it goes.

    `destination` is None while the Sentry project id cannot be resolved (Sentry unreachable); the
    entry is then parked with its `sentry_project_id` and `sentry_environment` until it can be.
    """

    event_id: str
    payload: str
    received_at: float  # epoch seconds, when the relay accepted it
    destination: Destination | None
    sentry_project_id: str | None = None
    sentry_environment: str | None = None


@dataclass(frozen=True)
class BatchEvent:
    """One event of a batch: its Sentry event id, metric event JSON and acceptance time."""

    event_id: str
    payload: str
    received_at: float


@dataclass(frozen=True)
class Batch:
    """Events sent in one import request; `batch_id` is its `X-LaunchDarkly-Payload-ID`, kept across retries."""

    batch_id: str
    destination: Destination
    attempts: int  # failed attempts so far
    events: tuple[BatchEvent, ...]


@dataclass(frozen=True)
class ParkedEvent:
    """An accepted event whose Sentry project id still has to be resolved to a mapping."""

    event_id: str
    sentry_project_id: str
    sentry_environment: str


@dataclass(frozen=True)
class DeadLetter:
    """A batch LaunchDarkly refused for good (a 4xx other than 408 and 429), with its answer."""

    batch_id: str
    destination: Destination
    events: int
    status: int | None
    response: str
    failed_at: float


@dataclass(frozen=True)
class DestinationStats:
    """The spool's view of one destination."""

    destination: Destination
    queued: int = 0  # waiting, including the events of a batch being sent or retried
    delivered: int = 0
    dead_lettered: int = 0
    oldest_queued_at: float | None = None  # epoch seconds
    attempts: int = 0  # failed attempts of the batch in flight, 0 when none
    next_attempt_at: float | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class SpoolStats:
    """Every destination's counts, plus events parked until their Sentry project resolves."""

    destinations: tuple[DestinationStats, ...] = ()
    unresolved: int = 0
    oldest_unresolved_at: float | None = None

    @property
    def queued(self) -> int:
        """Events not yet delivered, parked ones included."""
        return sum(d.queued for d in self.destinations) + self.unresolved

    @property
    def delivered(self) -> int:
        """Events LaunchDarkly acknowledged."""
        return sum(d.delivered for d in self.destinations)

    @property
    def dead_lettered(self) -> int:
        """Events in dead-lettered batches."""
        return sum(d.dead_lettered for d in self.destinations)

    @property
    def oldest_queued_at(self) -> float | None:
        """Acceptance time of the oldest event not yet delivered."""
        times = [d.oldest_queued_at for d in self.destinations if d.oldest_queued_at is not None]
        if self.oldest_unresolved_at is not None:
            times.append(self.oldest_unresolved_at)
        return min(times) if times else None


# One encoder for every call: json.dumps with options builds a new one each time (hot path).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def metric_event(event_key: str, creation_ms: int, context_keys: Mapping[str, str]) -> str:
    """The metric import API's custom event as compact JSON (launchdarkly-api.md §4.5)."""
    event = {"kind": "custom", "key": event_key, "creationDate": creation_ms, "contextKeys": dict(context_keys)}
    return _ENCODER.encode(event)


def compact_json(value: object) -> str:
    """Compact JSON text with the shared encoder."""
    return _ENCODER.encode(value)
