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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ld_sentry_cli.contexts import CONTEXT_NAME, ContextClass, classify, context_keys
from ld_sentry_cli.relay.metrics import RelayMetrics
from ld_sentry_cli.relay.model import SpoolEntry, metric_event
from ld_sentry_cli.relay.routing import EventRouter
from ld_sentry_cli.relay.signature import verify
from ld_sentry_cli.relay.webhook import PayloadError, decode, parse_webhook, resource_label

logger = logging.getLogger("ldsentry.relay.intake")

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB, the limit the issue sets (Sentry caps events at 1 MB, §8)

_SKIP_REASON = {
    ContextClass.MISSING: "missing_context",
    ContextClass.MISNAMED: "misnamed_context",
    ContextClass.INVALID: "invalid_context",
}


def usable_context_keys(contexts: Mapping[str, Any]) -> dict[str, str] | None:
    """The `contextKeys` of a usable `launchdarklyContext` (the rules of `events check`), else None."""
    if CONTEXT_NAME not in contexts:
        return None
    try:
        # context_keys applies the same checks as classify(): one validation on the common path.
        return context_keys(contexts[CONTEXT_NAME])
    except ValueError:
        return None


def skip_reason(contexts: Mapping[str, Any]) -> str:
    """Why an event without usable context keys is not forwarded (the metric label)."""
    return _SKIP_REASON[classify(contexts).context_class]


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
    ) -> None:
        self._secrets = tuple(secrets)
        self._router = router
        self._store = store
        self._metrics = metrics
        self._event_key = event_key
        self._on_stored = on_stored
        self._clock = clock

    def too_large(self) -> Outcome:
        """The answer to a body over MAX_BODY_BYTES."""
        return self._reject(413, "too_large")

    def _reject(self, status: int, reason: str) -> Outcome:
        self._metrics.rejected[reason] += 1
        return Outcome(status, "rejected", reason)

    def _skip(self, reason: str, event_id: str) -> Outcome:
        self._metrics.rejected[reason] += 1
        logger.debug("event %s acknowledged, not forwarded: %s", event_id, reason)
        return Outcome(200, "skipped", reason, event_id)

    async def handle(self, resource: str | None, signature: str | None, body: bytes) -> Outcome:
        """Apply the rules to one webhook (headers already extracted) and return the answer."""
        if len(body) > MAX_BODY_BYTES:
            return self.too_large()
        if not signature:
            return self._reject(401, "missing_signature")
        if not verify(self._secrets, body, signature):
            return self._reject(401, "bad_signature")
        try:
            document = decode(body)
        except ValueError:  # UnicodeDecodeError is a ValueError too
            return self._reject(400, "not_json")
        self._metrics.received[resource_label(resource)] += 1
        try:
            event = parse_webhook(resource, document)
        except PayloadError as err:
            logger.info("rejected a %s webhook: %s", resource_label(resource), err)
            return self._reject(400, "invalid_payload")
        if event is None:
            return Outcome(204, "ignored")
        route = await self._router.route(event.project_id, event.environment, event.project_slug)
        if route.reason is not None:
            return self._skip(route.reason, event.event_id)
        keys = usable_context_keys(event.contexts)
        if keys is None:
            return self._skip(skip_reason(event.contexts), event.event_id)
        received_at = self._clock()
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
