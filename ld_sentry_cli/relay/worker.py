"""Run every spool call on one thread, off the event loop, committing concurrent webhooks together.

Why a thread: a commit in `synchronous=FULL` waits for an fsync, and the event loop must keep
answering Sentry within its 1-second budget (sentry-api.md §7, "Delivery semantics") while it
does. Why one thread: SQLite has one writer at a time anyway, and one connection on one thread
needs no locking of ours.

Group commit, in two steps. On the loop, the events of one loop iteration are collected and
handed over in one piece (one queue put, one thread wake-up, per iteration rather than per
webhook: each hand-over costs the event loop a GIL switch, which at thousands of webhooks per
second cost more CPU than the webhooks themselves). On the thread, every group waiting while the
previous commit ran is written in the next transaction: one statement and one fsync for all of
them. Each handler is answered when its own event is committed; under light load a group is a
single event, so nothing waits for company.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ld_sentry_cli.relay.model import SpoolEntry
from ld_sentry_cli.relay.spool import Spool

T = TypeVar("T")
logger = logging.getLogger("ldsentry.relay.spool")

MAX_GROUP = 1024  # events per transaction: bounds how long one commit holds the write lock


@dataclass
class _Add:
    entries: list[SpoolEntry]
    futures: list[asyncio.Future[bool]]


@dataclass
class _Call:
    function: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]


@dataclass
class WorkerStats:
    """How the group commit behaves: the transactions written (fewer than the events when grouping works)."""

    commits: int = 0


_STOP = object()


class SpoolWorker:
    """The relay's one spool thread: `await add(entry)` and `await call(spool.method, ...)`."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.stats = WorkerStats()
        self._jobs: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._collecting: _Add | None = None  # this loop iteration's events, not yet handed over

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread, bound to the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="ldsentry-relay-spool", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Finish queued work, stop the thread and close the spool."""
        if self._thread is None:
            return
        self._hand_over()  # events added in this loop iteration go before the stop
        self._jobs.put(_STOP)
        thread = self._thread
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        self._thread = None

    async def add(self, entry: SpoolEntry) -> bool:
        """Store one entry durably; True if new, False if its event id was already in the spool."""
        future: asyncio.Future[bool] = self._future()
        if self._collecting is None:
            self._collecting = _Add([], [])
            assert self._loop is not None
            self._loop.call_soon(self._hand_over)  # after every handler of this iteration has added
        self._collecting.entries.append(entry)
        self._collecting.futures.append(future)
        return await future

    def _hand_over(self) -> None:
        group, self._collecting = self._collecting, None
        if group is not None:
            self._jobs.put(group)

    async def seen(self, event_ids: Sequence[str]) -> set[str]:
        """The ids among event_ids the spool holds or held."""
        return await self.call(self.spool.seen, event_ids)

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run function(*args) on the spool thread (any thread, for a thread-safe spool) and return its result."""
        if self.spool.thread_safe:
            # PostgreSQL: a pool of connections. The forwarder's round trips need not queue behind
            # (or ahead of) the webhooks' group commits on the one spool thread.
            if not self.alive:
                raise RuntimeError("the spool worker is not running")
            return await asyncio.to_thread(function, *args)
        future: asyncio.Future[T] = self._future()
        self._jobs.put(_Call(function, args, future))
        return await future

    def _future(self) -> asyncio.Future[Any]:
        if self._loop is None or not self.alive:
            raise RuntimeError("the spool worker is not running")
        return self._loop.create_future()

    def _run(self) -> None:
        pending: object | None = None
        while True:
            job = pending if pending is not None else self._jobs.get()
            pending = None
            if job is _STOP:
                break
            if isinstance(job, _Call):
                self._run_call(job)
                continue
            assert isinstance(job, _Add)
            group = [job]
            size = len(job.entries)
            # Take whatever else is already waiting: these share the next commit.
            while size < MAX_GROUP:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if isinstance(more, _Add):
                    group.append(more)
                    size += len(more.entries)
                else:
                    pending = more  # a call or the stop: run it after this group
                    break
            self._run_group(group)
        self._refuse_the_rest()
        try:
            self.spool.close()
        except Exception:  # closing must not hide why we stopped
            logger.exception("closing the spool failed")

    def _refuse_the_rest(self) -> None:
        """Fail whatever was queued after the stop, so no handler waits forever."""
        assert self._loop is not None
        stopped = RuntimeError("the spool worker is not running")
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if isinstance(job, _Add):
                self._loop.call_soon_threadsafe(_settle_group, job.futures, stopped)
            elif isinstance(job, _Call):
                self._loop.call_soon_threadsafe(_settle, job.future, (False, stopped))

    def _run_group(self, group: Sequence[_Add]) -> None:
        entries = [entry for job in group for entry in job.entries]
        futures = [future for job in group for future in job.futures]
        try:
            results: list[bool] | BaseException = self.spool.add(entries)
        except Exception as err:
            results = err
            logger.error("spool write failed for %d events: %s", len(entries), err)
        else:
            self.stats.commits += 1
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_settle_group, futures, results)

    def _run_call(self, job: _Call) -> None:
        try:
            result = job.function(*job.args)
        except Exception as err:
            outcome: tuple[bool, Any] = (False, err)
        else:
            outcome = (True, result)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_settle, job.future, outcome)


def _settle_group(futures: Sequence[asyncio.Future[bool]], results: list[bool] | BaseException) -> None:
    for index, future in enumerate(futures):
        if future.done():  # the handler gave up (client disconnected): nothing to tell
            continue
        if isinstance(results, BaseException):
            future.set_exception(results)
        else:
            future.set_result(results[index])


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
