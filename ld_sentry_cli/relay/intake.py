"""Decide what to do with one webhook: reject it, acknowledge it, or store it and then acknowledge it.

HTTP-free (the ASGI endpoint in app.py feeds it headers and the raw body), so every rule is tested
directly. The rules, in order (issue 7; sentry-api.md §7):

1. Body over 1 MiB → 413. Missing or wrong `Sentry-Hook-Signature` → 401. Not JSON → 400.
   Nothing of a rejected request is stored or forwarded.
2. A resource/action the relay does not forward → 204, counted by resource.
3. An `error.created` / `event_alert.triggered` that is not the documented shape → 400.
4. No environment, no mapping, or no usable `launchdarklyContext` (the rules of `events check`)
   → 200, counted by reason, not stored: Sentry must not retry these.
5. Otherwise the event is committed to the spool (deduplicated by event id), then 202.
   If Sentry cannot be asked which project the id is, the event is stored parked and resolved later.

Limits (issue 13 §3): JSON nested too deeply for the decoder, a time that is not a time or lies
more than an hour ahead, and text that cannot be stored (a lone surrogate, NUL) → 400 with a
`detail`. An event older than the replay window → 200 `stale`, not stored: the spool forgets
event ids after its retention, so a captured webhook replayed later would be forwarded again.
Context keys LaunchDarkly may refuse (too long, too many kinds) → 200 `invalid_context`. A bug
→ 500 `internal_error`, counted like every other answer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ld_sentry_cli.contexts import CONTEXT_NAME, ContextClass, classify, context_keys
from ld_sentry_cli.relay.metrics import RelayMetrics
from ld_sentry_cli.relay.model import SpoolEntry, metric_event
from ld_sentry_cli.relay.routing import EventRouter
from ld_sentry_cli.relay.signature import verify
from ld_sentry_cli.relay.spool import SEEN_RETENTION_S
from ld_sentry_cli.relay.webhook import PayloadError, decode, parse_webhook, resource_label, storable

logger = logging.getLogger("ldsentry.relay.intake")

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB, the limit the issue sets (Sentry caps events at 1 MB, sentry-api.md §8)
# The spool keeps an event id at least SEEN_RETENTION_S after the relay took the event, and Sentry
# sends an event within seconds of its `timestamp` (it corrects SDK clocks more than 60 s ahead),
# so an event younger than this window is still known if it was seen; the hour covers a relay clock
# running behind Sentry's.
REPLAY_MARGIN_S = 3600.0
REPLAY_WINDOW_S = SEEN_RETENTION_S - REPLAY_MARGIN_S
MAX_CLOCK_AHEAD_S = 3600.0  # an event time further ahead is no real event's (1e23 was forwarded as creationDate)
# LaunchDarkly documents no limits for the metric import API (launchdarkly-api.md §6). Unverified,
# so safe bounds: keys are identifiers (emails, UUIDs: under 256 bytes), kinds are short names, and
# a multi-context has a few kinds. One event then stays under ~3.5 KB in an import request (a 900 KB
# key made a 900 KB import, which LaunchDarkly could refuse with the whole batch).
MAX_CONTEXT_KEY_BYTES = 256
MAX_CONTEXT_KIND_LENGTH = 64
MAX_CONTEXT_KINDS = 10

_SKIP_REASON = {
    ContextClass.MISSING: "missing_context",
    ContextClass.MISNAMED: "misnamed_context",
    ContextClass.INVALID: "invalid_context",
}


def context_keys_problem(keys: Mapping[str, str]) -> str | None:
    """Why LaunchDarkly might refuse these context keys (the bounds above, or text it cannot read), else None."""
    if len(keys) > MAX_CONTEXT_KINDS:
        return f"more than {MAX_CONTEXT_KINDS} context kinds"
    for kind, key in keys.items():
        if len(kind) > MAX_CONTEXT_KIND_LENGTH:
            return f"a context kind longer than {MAX_CONTEXT_KIND_LENGTH} characters"
        if not storable(key):
            return "a context key that is not valid text"
        if len(key) > MAX_CONTEXT_KEY_BYTES // 4 and len(key.encode()) > MAX_CONTEXT_KEY_BYTES:
            return f"a context key longer than {MAX_CONTEXT_KEY_BYTES} bytes"
    return None


def _context_keys(contexts: Mapping[str, Any]) -> dict[str, str] | None:
    if CONTEXT_NAME not in contexts:
        return None
    try:
        # context_keys applies the same checks as classify(): one validation on the common path.
        return context_keys(contexts[CONTEXT_NAME])
    except ValueError:
        return None


def usable_context_keys(contexts: Mapping[str, Any]) -> dict[str, str] | None:
    """The `contextKeys` of a usable `launchdarklyContext` (the rules of `events check`, and the bounds), else None."""
    keys = _context_keys(contexts)
    return keys if keys is not None and context_keys_problem(keys) is None else None


def skip_reason(contexts: Mapping[str, Any]) -> str:
    """Why an event without usable context keys is not forwarded (the metric label)."""
    # A context `events check` accepts but whose keys are out of bounds is invalid here.
    return _SKIP_REASON.get(classify(contexts).context_class, "invalid_context")


class EventStore(Protocol):
    """Durable, deduplicating storage for accepted events (the spool worker)."""

    async def add(self, entry: SpoolEntry) -> bool:
        """Store entry; True if new, False if its event id is already there."""


@dataclass(frozen=True)
class Outcome:
    """The answer to one webhook, and what it counted as."""

    status: int
    result: str  # accepted | duplicate | skipped | ignored | rejected
    reason: str | None = None
    event_id: str | None = None
    detail: str | None = field(default=None, compare=False)  # what is wrong, for a human reading Sentry's log

    def body(self) -> bytes:
        """The JSON response body (empty for 204)."""
        if self.status == 204:
            return b""
        # Every part is one of our own words or a validated 32-hex event id: no escaping needed,
        # and formatting is several times cheaper than json.dumps on this hot path.
        parts = [f'"result":"{self.result}"']
        if self.reason:
            parts.append(f'"reason":"{self.reason}"')
        if self.event_id:
            parts.append(f'"event_id":"{self.event_id}"')
        if self.detail:
            parts.append(f'"detail":{json.dumps(self.detail)}')
        return ("{" + ",".join(parts) + "}").encode()


class Intake:
    """Applies the rules above; updates the metrics; calls `on_stored` after each new stored event."""

    def __init__(
        self,
        secrets: Sequence[bytes],
        router: EventRouter,
        store: EventStore,
        metrics: RelayMetrics,
        event_key: str,
        *,
        on_stored: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        replay_window: float = REPLAY_WINDOW_S,
    ) -> None:
        self._secrets = tuple(secrets)
        self._router = router
        self._store = store
        self._metrics = metrics
        self._event_key = event_key
        self._on_stored = on_stored
        self._clock = clock
        self._replay_window = replay_window

    def too_large(self) -> Outcome:
        """The answer to a body over MAX_BODY_BYTES."""
        return self._reject(413, "too_large")

    def disconnected(self) -> Outcome:
        """The answer (which nobody reads) to a client that left before sending its whole body."""
        return self._reject(400, "disconnected")

    def _reject(self, status: int, reason: str, detail: str | None = None) -> Outcome:
        self._metrics.rejected[reason] += 1
        return Outcome(status, "rejected", reason, detail=detail)

    def _invalid(self, resource: str | None, detail: str) -> Outcome:
        logger.info("rejected a %s webhook: %s", resource_label(resource), detail)
        return self._reject(400, "invalid_payload", detail)

    def _skip(self, reason: str, event_id: str) -> Outcome:
        self._metrics.rejected[reason] += 1
        logger.debug("event %s acknowledged, not forwarded: %s", event_id, reason)
        return Outcome(200, "skipped", reason, event_id)

    async def handle(self, resource: str | None, signature: str | None, body: bytes) -> Outcome:
        """Apply the rules to one webhook (headers already extracted) and return the answer."""
        try:
            return await self._handle(resource, signature, body)
        except Exception as err:
            # A bug: answer 500 and count it, as uvicorn would not; if Sentry does not retry a 5xx,
            # `relay backfill` finds the event (sentry-api.md §7).
            logger.error("internal error on a %s webhook: %s", resource_label(resource), type(err).__name__)
            logger.debug("internal error", exc_info=True)
            return self._reject(500, "internal_error")

    async def _handle(self, resource: str | None, signature: str | None, body: bytes) -> Outcome:
        if len(body) > MAX_BODY_BYTES:
            return self.too_large()
        if not signature:
            return self._reject(401, "missing_signature")
        if not verify(self._secrets, body, signature):
            return self._reject(401, "bad_signature")
        try:
            document = decode(body)
        except RecursionError:  # the decoders recurse per level: ~1,000 levels exhaust the stack
            self._metrics.received[resource_label(resource)] += 1
            return self._invalid(resource, "the JSON is nested too deeply")
        except ValueError:  # UnicodeDecodeError is a ValueError too
            return self._reject(400, "not_json")
        self._metrics.received[resource_label(resource)] += 1
        try:
            event = parse_webhook(resource, document)
        except PayloadError as err:
            return self._invalid(resource, str(err))
        if event is None:
            return Outcome(204, "ignored")
        received_at = self._clock()
        if event.timestamp_ms is not None:
            age = received_at - event.timestamp_ms / 1000
            if age < -MAX_CLOCK_AHEAD_S:
                return self._invalid(resource, "the event's time is more than an hour ahead of the relay's clock")
            if age > self._replay_window:
                # Sentry sends an event within minutes of its time: this is a replay, or too late to tell.
                return self._skip("stale", event.event_id)
        keys = _context_keys(event.contexts)
        if keys is not None and any(not storable(k) or not storable(v) for k, v in keys.items()):
            return self._invalid(resource, "a launchdarklyContext key is not valid text")
        route = await self._router.route(event.project_id, event.environment, event.project_slug)
        if route.reason is not None:
            return self._skip(route.reason, event.event_id)
        problem = None if keys is None else context_keys_problem(keys)
        if problem is not None:  # the key itself is never logged
            logger.info("event %s not forwarded: its launchdarklyContext has %s", event.event_id, problem)
        if keys is None or problem is not None:
            return self._skip(skip_reason(event.contexts), event.event_id)
        entry = SpoolEntry(
            event_id=event.event_id,
            payload=metric_event(self._event_key, event.timestamp_ms or int(received_at * 1000), keys),
            received_at=received_at,
            destination=route.destination,
            sentry_project_id=event.project_id if route.unavailable else None,
            sentry_environment=event.environment if route.unavailable else None,
        )
        try:
            new = await self._store.add(entry)
        except Exception as err:  # the spool cannot take it: make Sentry try again later
            logger.error("could not store event %s: %s", event.event_id, err)
            return self._reject(503, "spool_error")
        if not new:
            self._metrics.duplicates += 1
            logger.debug("event %s is a duplicate", event.event_id)
            return Outcome(200, "duplicate", None, event.event_id)
        if route.unavailable:
            self._metrics.parked += 1
        else:
            self._metrics.accepted += 1
        self._on_stored()
        logger.debug("event %s accepted", event.event_id)
        return Outcome(202, "accepted", None, event.event_id)


def header_values(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None, int | None]:
    """`Sentry-Hook-Resource`, `Sentry-Hook-Signature` and `Content-Length` from raw ASGI headers."""
    resource = signature = None
    length: int | None = None
    for name, value in headers:  # ASGI servers give header names in lowercase
        if name == b"sentry-hook-signature":
            signature = value.decode("latin-1")
        elif name == b"sentry-hook-resource":
            resource = value.decode("latin-1").strip()
        elif name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
    return resource, signature, length
