"""Drain the spool into LaunchDarkly's metric import API, one batch at a time per destination.

The import API (launchdarkly-api.md §4.5): `POST {events base}/v2/event-data-import/{project}/{env}`
with an access token allowed `importEventData`, `X-LaunchDarkly-Event-Schema: 4`,
`User-Agent: MetricImport-<COMPANY>-int/<VERSION>`, and `X-LaunchDarkly-Payload-ID`, a UUID that
"allows retry": we keep it for every attempt of the same batch, restarts included (it lives in
the spool), so LaunchDarkly can drop a payload it already took.

Outcomes (the issue; SDK delivery semantics in §4.4): 2xx → delivered. 429, 408, 5xx other than
501, and network errors → the same batch again after a backoff with jitter (or the wait the
server asked for), and nothing behind it for that destination goes first, so order holds. Any
other answer → the batch moves to the dead letters with the response, and the next one goes.
Destinations are independent: one being rate limited does not hold up another.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

from ld_sentry_cli import __version__, launchdarkly
from ld_sentry_cli.errors import NetworkError, ServiceError
from ld_sentry_cli.http import ApiSession, SessionOptions
from ld_sentry_cli.relay.metrics import RelayMetrics
from ld_sentry_cli.relay.model import Batch, Destination
from ld_sentry_cli.relay.spool import DuePlan, Spool
from ld_sentry_cli.relay.worker import SpoolWorker

logger = logging.getLogger("ldsentry.relay.forwarder")

IMPORT_USER_AGENT = f"MetricImport-ldsentry-int/{__version__}"  # the form the import docs require (§4.5)
EVENT_SCHEMA = "4"
# LaunchDarkly's own conventions (error bodies, rate-limit headers), with the relay's setting and hints.
_IMPORT_CONVENTIONS = dataclasses.replace(
    launchdarkly.CONVENTIONS,
    url_setting="[launchdarkly] events_url, LD_BASE_URI or [launchdarkly] base_url",
    hints={
        401: "Check LD_ACCESS_TOKEN, then run `ldsentry relay retry-dead-letters`.",
        403: "The token's role needs the importEventData action; then run `ldsentry relay retry-dead-letters`.",
    },
)


@dataclass(frozen=True)
class SendResult:
    """How one import request ended."""

    ok: bool
    transient: bool = False
    status: int | None = None
    retry_after: float | None = None  # seconds, when the server said how long to wait
    message: str = ""

    @property
    def retry_reason(self) -> str:
        """`rate_limited`, `server_error` or `network`, for the retried-batches metric."""
        if self.status is None:
            return "network"
        return "rate_limited" if self.status == 429 else "server_error"


class ImportSender(Protocol):
    """Sends one batch to one destination."""

    async def send(self, destination: Destination, payload_id: str, payloads: Sequence[str]) -> SendResult:
        """POST the events; never raises for an HTTP or network failure, returns it."""


def is_transient(status: int) -> bool:
    """Statuses worth retrying: 429, 408 and 5xx except 501 (docs/design.md "HTTP")."""
    return status in (408, 429) or (status >= 500 and status != 501)


class LaunchDarklyImporter:
    """The metric import API through ldsentry's one HTTP layer (`ApiSession`): auth, redaction, loopback rule."""

    def __init__(self, events_base_url: str, token: str, *, options: SessionOptions | None = None) -> None:
        self.session = ApiSession(
            events_base_url,
            conventions=_IMPORT_CONVENTIONS,
            auth_header="Authorization",
            auth_value=token,  # raw, no "Bearer" (launchdarkly-api.md §0)
            options=options or SessionOptions(timeout=15.0, connect_timeout=5.0),
        )

    async def send(self, destination: Destination, payload_id: str, payloads: Sequence[str]) -> SendResult:
        """POST one batch; a single attempt (the forwarder owns retries, so they survive restarts)."""
        project, environment = (quote(key, safe="") for key in (destination.ld_project, destination.ld_environment))
        path = f"/v2/event-data-import/{project}/{environment}"
        headers = {
            "User-Agent": IMPORT_USER_AGENT,
            "X-LaunchDarkly-Event-Schema": EVENT_SCHEMA,
            "X-LaunchDarkly-Payload-ID": payload_id,
        }
        # The spool holds each event as JSON text already: join them rather than parse and re-encode.
        body = ("[" + ",".join(payloads) + "]").encode()
        headers["Content-Type"] = "application/json"
        try:
            response = await self.session.request("POST", path, content=body, headers=headers, retry=False)
        except NetworkError as err:
            return SendResult(ok=False, transient=True, message=err.message)
        except ServiceError as err:
            status = err.status
            if status is not None and 200 <= status < 300:
                return SendResult(ok=True, status=status)  # accepted, with a body we did not expect
            transient = status is not None and is_transient(status)
            return SendResult(
                ok=False, transient=transient, status=status, retry_after=err.retry_after, message=err.message
            )
        return SendResult(ok=True, status=response.status)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        await self.session.aclose()


@dataclass(frozen=True)
class Backoff:
    """Delay before retrying a batch: exponential, capped, with equal jitter."""

    base: float = 0.5
    cap: float = 60.0

    def delay(self, attempts: int, retry_after: float | None, rand: float) -> float:
        """Seconds to wait after the given number of failed attempts (1-based); rand in [0, 1)."""
        if retry_after is not None:
            # The server knows best (Retry-After or X-Ratelimit-Reset); jitter spreads the herd.
            return min(self.cap, max(0.0, retry_after)) + rand * self.base
        step = min(self.cap, self.base * 2.0 ** max(0, attempts - 1))
        return step / 2 + rand * step / 2


@dataclass(frozen=True)
class ForwarderSettings:
    """Batching and pacing."""

    batch_size: int = 100
    flush_interval: float = 1.0  # longest wait before a partial batch is sent
    max_in_flight: int = 8  # destinations sending at once
    poll_interval: float = 0.25  # longest sleep between looks at the spool (other processes add too)
    min_replan: float = 0.02  # shortest gap between looks, however many webhooks wake us
    backoff: Backoff = field(default_factory=Backoff)
    spool_backoff: Backoff = field(default_factory=lambda: Backoff(0.25, 30.0))  # after a spool error


class Forwarder:
    """The task that drains the spool: one drain task per destination with a due batch."""

    def __init__(
        self,
        worker: SpoolWorker,
        sender: ImportSender,
        metrics: RelayMetrics,
        settings: ForwarderSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        random_fn: Callable[[], float] = random.random,
    ) -> None:
        self._worker = worker
        self._spool: Spool = worker.spool
        self._sender = sender
        self._metrics = metrics
        self.settings = settings or ForwarderSettings()
        self._clock = clock
        self._random = random_fn
        self._wake = asyncio.Event()
        self._active: dict[Destination, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._flushing = False
        self._deadline: float | None = None
        self._spool_errors = 0  # consecutive spool failures: a broken spool is not hammered, nor the log flooded
        self._spool_pause_until = 0.0

    @property
    def running(self) -> bool:
        """True while the planner task runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the planner on the running loop."""
        self._task = asyncio.ensure_future(self._run())

    def notify(self) -> None:
        """New events were spooled: look sooner than the poll interval."""
        self._wake.set()

    async def stop(self, timeout: float) -> None:
        """Send what can be sent within timeout (partial batches too), then stop; the rest stays spooled."""
        if self._task is None:
            return
        self._flushing = True
        self._deadline = self._clock() + timeout
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            logger.warning("shutdown: flush timeout of %.1f s reached; unsent events stay in the spool", timeout)
        except Exception as err:  # the planner had died already: report it, stop anyway
            logger.error("the forwarder had stopped: %s", err)
        finally:
            for task in list(self._active.values()):
                task.cancel()
            self._task.cancel()
            await asyncio.gather(self._task, *self._active.values(), return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        settings = self.settings
        last_plan = 0.0
        while True:
            gap = settings.min_replan - (time.monotonic() - last_plan)
            if gap > 0:
                await asyncio.sleep(gap)
            pause = self._spool_pause_until - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            last_plan = time.monotonic()
            now = self._clock()
            try:
                plan: DuePlan = await self._worker.call(
                    self._spool.due, now, settings.batch_size, settings.flush_interval, self._flushing
                )
            except Exception as err:  # the spool is unwell: keep trying, never drop
                logger.error("reading the spool failed: %s", err)
                self._spool_failed()
                plan = DuePlan((), None)
            for destination in plan.ready:
                if destination not in self._active and len(self._active) < settings.max_in_flight:
                    self._active[destination] = asyncio.ensure_future(self._drain(destination))
            if self._flushing and self._flush_done(plan):
                return
            wait = settings.poll_interval
            if plan.next_due_at is not None:
                wait = min(wait, max(0.0, plan.next_due_at - self._clock()))
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _spool_failed(self) -> None:
        self._spool_errors += 1
        delay = self.settings.spool_backoff.delay(self._spool_errors, None, self._random())
        self._spool_pause_until = max(self._spool_pause_until, time.monotonic() + delay)

    def _flush_done(self, plan: DuePlan) -> bool:
        if self._active or plan.ready:
            return False
        # Only retries scheduled after the deadline (or nothing) remain: they wait for the next start.
        return plan.next_due_at is None or (self._deadline is not None and plan.next_due_at > self._deadline)

    async def _drain(self, destination: Destination) -> None:
        settings = self.settings
        try:
            while True:
                batch: Batch | None = await self._worker.call(
                    self._spool.claim,
                    destination,
                    self._clock(),
                    settings.batch_size,
                    settings.flush_interval,
                    self._flushing,
                )
                if batch is None:
                    return
                self._spool_errors = 0
                if not await self._deliver(batch):
                    return
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a spool failure: the batch stays where it is and is tried again
            logger.error("forwarding to %s failed: %s", destination.label, err)
            self._spool_failed()
        finally:
            self._active.pop(destination, None)
            self._wake.set()

    async def _deliver(self, batch: Batch) -> bool:
        """Send one batch and record the outcome; False when the destination must wait (a retry)."""
        try:
            result = await self._sender.send(batch.destination, batch.batch_id, [e.payload for e in batch.events])
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a bug, not an answer: retry rather than lose the batch
            logger.exception("sending batch %s failed unexpectedly", batch.batch_id)
            result = SendResult(ok=False, transient=True, message=f"unexpected {type(err).__name__}")
        now = self._clock()
        label = batch.destination.label
        if result.ok:
            count = await self._worker.call(self._spool.delivered, batch.batch_id, now)
            self._metrics.forwarded_batches += 1
            self._metrics.forwarded_events += count
            for event in batch.events:
                self._metrics.forward_lag.observe(max(0.0, now - event.received_at))
            logger.debug("delivered batch %s: %d events to %s", batch.batch_id, count, label)
            return True
        if result.transient:
            attempts = batch.attempts + 1
            delay = self.settings.backoff.delay(attempts, result.retry_after, self._random())
            await self._worker.call(self._spool.retry_later, batch.batch_id, attempts, now + delay, result.message)
            self._metrics.retried[result.retry_reason] += 1
            logger.warning(
                "batch %s (%d events to %s) failed (%s); attempt %d, retrying in %.1f s",
                batch.batch_id,
                len(batch.events),
                label,
                result.message or result.retry_reason,
                attempts,
                delay,
            )
            return False
        count = await self._worker.call(self._spool.dead_letter, batch.batch_id, result.status, result.message, now)
        self._metrics.dead_lettered_batches += 1
        self._metrics.dead_lettered_events += count
        logger.error(
            "batch %s (%d events to %s) dead-lettered: %s; fix the cause, then run `ldsentry relay retry-dead-letters`",
            batch.batch_id,
            count,
            label,
            result.message,
        )
        return True
