"""The running relay: the spool thread, the intake, the forwarder and housekeeping, started and stopped together.

Free of Starlette and uvicorn (app.py serves it), so tests drive it in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from ld_sentry_cli.models import Config
from ld_sentry_cli.relay.forwarder import Forwarder, ForwarderSettings, ImportSender
from ld_sentry_cli.relay.intake import Intake
from ld_sentry_cli.relay.metrics import RelayMetrics
from ld_sentry_cli.relay.model import Destination, SpoolStats
from ld_sentry_cli.relay.routing import EventRouter, Lookup, ProjectResolver, ProjectSource
from ld_sentry_cli.relay.spool import PRUNE_CHUNK, SEEN_RETENTION_S, Spool, SpoolUnavailable
from ld_sentry_cli.relay.worker import SpoolWorker

logger = logging.getLogger("ldsentry.relay")

Closer = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class RelayOptions:
    """Tunables of a running relay."""

    forwarder: ForwarderSettings = field(default_factory=ForwarderSettings)
    shutdown_timeout: float = 10.0  # how long SIGTERM may spend flushing before leaving the rest spooled
    housekeeping_interval: float = 30.0
    checkpoint_interval: float = 1.0
    summary_interval: float = 60.0  # how often the log says what happened
    retention: float = SEEN_RETENTION_S
    ready_timeout: float = 1.0


class Relay:
    """Wires the parts together; `start()` and `stop()` run on the serving event loop."""

    def __init__(
        self,
        config: Config,
        spool: Spool,
        *,
        secrets: Sequence[bytes],
        sender: ImportSender,
        projects: ProjectSource | None,
        options: RelayOptions | None = None,
        closers: Sequence[Closer] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options or RelayOptions()
        self.spool = spool
        self.metrics = RelayMetrics()
        self.worker = SpoolWorker(spool)
        self.resolver = ProjectResolver(projects, config.sentry_projects)
        self.router = EventRouter(config.mappings, self.resolver)
        self.forwarder = Forwarder(self.worker, sender, self.metrics, self.options.forwarder, clock=clock)
        self.intake = Intake(
            secrets,
            self.router,
            self.worker,
            self.metrics,
            config.metric.event_key,
            on_stored=self.forwarder.notify,
            clock=clock,
        )
        self._clock = clock
        self._closers = tuple(closers)
        self._housekeeping: asyncio.Task[None] | None = None
        self._checkpoints: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the spool thread, the forwarder and housekeeping (which loads the Sentry project list)."""
        self.worker.start()
        self.forwarder.start()
        self._housekeeping = asyncio.ensure_future(self._housekeep())
        self._checkpoints = asyncio.ensure_future(self._checkpoint_loop())

    async def stop(self) -> None:
        """Flush within the shutdown timeout, then stop everything; unsent events stay in the spool."""
        for task in (self._housekeeping, self._checkpoints):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._housekeeping = self._checkpoints = None
        await self.forwarder.stop(self.options.shutdown_timeout)
        await self.worker.stop()
        for close in self._closers:
            try:
                await close()
            except Exception as err:  # closing an HTTP pool must not fail the shutdown
                logger.debug("closing failed: %s", err)
        stats = self.spool_stats_after_stop()
        if stats is not None:
            logger.info("stopped; %d events left in the spool for the next start", stats.queued)

    def spool_stats_after_stop(self) -> SpoolStats | None:
        """Spool counts read after the worker stopped (None if unreadable)."""
        try:
            return self.spool.stats()
        except Exception:
            return None

    async def readiness(self) -> list[str]:
        """What keeps the relay from being ready; empty when the spool is writable and the forwarder runs."""
        problems = []
        if not self.worker.alive:
            problems.append("the spool thread is not running")
        else:
            try:
                await asyncio.wait_for(self.worker.call(self.spool.check_writable), self.options.ready_timeout)
            except asyncio.TimeoutError:
                problems.append("the spool did not answer within 1 s")
            except SpoolUnavailable as err:
                problems.append(str(err))
            except Exception as err:
                problems.append(f"the spool is not writable: {err}")
        if not self.forwarder.running:
            problems.append("the forwarder is not running")
        return problems

    async def stats(self) -> SpoolStats:
        """Spool counts, read on a connection of their own off the event loop."""
        return await asyncio.to_thread(self.spool.stats)

    async def metrics_text(self) -> str:
        """The /metrics document."""
        try:
            stats: SpoolStats | None = await self.stats()
        except Exception as err:
            logger.warning("could not read spool statistics: %s", err)
            stats = None
        return self.metrics.render(stats, self._clock(), ready=not await self.readiness())

    def _log_summary(self, previous: tuple[int, ...], seconds: float) -> tuple[int, ...]:
        """One INFO line of counts since the previous summary, when anything happened."""
        metrics = self.metrics
        current = (
            sum(metrics.received.values()),
            metrics.accepted,
            metrics.duplicates,
            sum(metrics.rejected.values()),
            metrics.forwarded_events,
            sum(metrics.retried.values()),
            metrics.dead_lettered_events,
        )
        delta = [now - before for now, before in zip(current, previous, strict=True)]
        if any(delta):
            logger.info(
                "last %.0f s: %d webhooks, %d events accepted, %d duplicates, %d not forwarded, "
                "%d forwarded, %d batch retries, %d dead-lettered",
                seconds,
                *delta,
            )
        return current

    async def _housekeep(self) -> None:
        interval = self.options.housekeeping_interval
        last_prune = 0.0
        counts: tuple[int, ...] = (0,) * 7
        last_summary = time.monotonic()
        while True:
            try:
                await self.resolver.maybe_refresh()
                await self.resolve_parked()
                if time.monotonic() - last_summary >= self.options.summary_interval:
                    counts = self._log_summary(counts, time.monotonic() - last_summary)
                    last_summary = time.monotonic()
                now = self._clock()
                if now - last_prune >= 3600:
                    pruned = await self.prune(now - self.options.retention)
                    last_prune = now
                    if pruned:
                        logger.info("forgot %d delivered event ids older than the retention", pruned)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                logger.error("housekeeping failed: %s", err)
            await asyncio.sleep(interval)

    async def prune(self, before: float) -> int:
        """Forget delivered ids older than before, one small transaction at a time (webhooks go in between)."""
        total = 0
        while True:
            pruned = await self.worker.call(self.spool.prune, before, PRUNE_CHUNK)
            total += pruned
            if pruned < PRUNE_CHUNK:
                return total

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.checkpoint_interval)
            try:
                await asyncio.to_thread(self.spool.checkpoint)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a busy or locked database: the next round will do
                logger.debug("checkpoint failed: %s", err)

    async def resolve_parked(self, limit: int = 1000) -> int:
        """Route events parked while Sentry was unreachable; return how many were settled."""
        parked = await self.worker.call(self.spool.parked, limit)
        if not parked:
            return 0
        assignments: dict[str, Destination | None] = {}
        for event in parked:
            found, slug = await self.resolver.lookup(event.sentry_project_id)
            if found is Lookup.UNAVAILABLE:
                continue
            destination = self.router.destination_for(slug, event.sentry_environment) if slug else None
            assignments[event.event_id] = destination
            # Counted once at intake (parked); this says how its parking ended.
            self.metrics.unparked["unmapped" if destination is None else "queued"] += 1
        if assignments:
            await self.worker.call(self.spool.resolve, assignments, self._clock())
            self.forwarder.notify()
            logger.info("resolved %d parked events", len(assignments))
        return len(assignments)
