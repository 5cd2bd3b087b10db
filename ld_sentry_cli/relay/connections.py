"""Connection limits the relay's HTTP server needs and uvicorn does not enforce.

What uvicorn itself does (read in its source, `protocols/http/httptools_impl.py` and `h11_impl.py`):

- `timeout_keep_alive` is armed only when a response is complete. A connection that never sends a
  request, or sends its headers a byte at a time, is never timed out, by either protocol.
- `limit_concurrency` is checked once a request's headers are complete, counts idle connections
  too, and answers that request 503: with enough idle sockets open it refuses every legitimate
  webhook, and it never bounds the sockets accepted, so the process still runs out of descriptors
  (then accepting fails, and so does the forwarder's next connection to LaunchDarkly).
- h11 bounds a request's head (`h11_max_incomplete_event_size`, 16 KiB by default) but uvicorn
  answers 400; httptools, which the relay runs (twice h11's speed, BENCHMARKS.md), has no bound.

So the relay serves with uvicorn's httptools protocol (h11's where httptools is missing, as under
`bench/relay.py --plain`) plus, per connection:

- the keep-alive timeout armed from the moment the connection opens, not only after a response;
- a read timeout from a request's first byte to its last, for slow headers and slow bodies;
- 431 for a request head over `max_head_bytes`, counted from the raw bytes before the parser has
  gathered them (httptools keeps a header's value in memory until it is complete; h11's own bound
  is set above ours, so that the answer is 431 rather than uvicorn's 400);
- a cap on open connections below the descriptor limit: over it, the oldest connection that has
  no request in progress (idle, or still sending its head) is closed, so idle sockets cannot
  lock legitimate webhooks out; one log line says so, at most once a minute.
"""

from __future__ import annotations

import asyncio
import http
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

if sys.platform != "win32":
    import resource

logger = logging.getLogger("ldsentry.relay.connections")

IDLE_TIMEOUT_S = 5  # uvicorn's own keep-alive default; now also before a connection's first request
# Sentry gives a delivery 1 s in all (sentry-api.md §7), so a request still arriving after 10 s is
# not Sentry's; the read timeout bounds how long a slow sender holds a connection.
READ_TIMEOUT_S = 10.0
# The bound h11 and Node.js apply by default; Sentry's headers and a proxy's additions take ~1 KiB.
MAX_HEAD_BYTES = 16 * 1024
# Descriptors kept free of client connections: the spool (SQLite file, WAL, shared memory, a
# checkpoint connection and a read connection per status query), the forwarder's and the Sentry
# client's HTTPS connections (8 in flight each), the event loop's own, logs, and a margin.
MIN_HEADROOM = 100
LOG_INTERVAL_S = 60.0
_431_BODY = b"Request header fields too large."
# h11's own bound on an unfinished head answers 400; set above ours by more than one read of the
# event loop (256 KiB), ours answers 431 first.
H11_READ_ALLOWANCE = 512 * 1024


@dataclass(frozen=True)
class ConnectionLimits:
    """What one server allows each connection, and how many it keeps open."""

    max_connections: int
    idle_timeout: float = IDLE_TIMEOUT_S
    read_timeout: float = READ_TIMEOUT_S
    max_head_bytes: int = MAX_HEAD_BYTES


def descriptor_limit() -> int | None:
    """The soft RLIMIT_NOFILE of this process; None when unlimited or unknown."""
    if sys.platform == "win32":
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def connection_cap(soft_limit: int | None) -> int:
    """Client connections to keep open under a descriptor limit: an eighth of it, at least 100, stays free."""
    if soft_limit is None:
        return 60_000  # no limit to respect: still bound the event loop's bookkeeping
    headroom = max(MIN_HEADROOM, soft_limit // 8)
    return max(soft_limit - headroom, soft_limit // 2, 1)


# How each reason for closing connections (metrics.CLOSE_REASONS) is logged: the level, the limit that
# closed them, and the message given the count, its plural "s" and that limit. Idle connections are
# closed all the time (kept-alive ones too): worth a debug line only.
_CLOSED_LOGS: dict[str, tuple[int, Callable[[ConnectionLimits], float], str]] = {
    "cap": (
        logging.WARNING,
        attrgetter("max_connections"),
        "connection cap of %(limit)d reached: closed %(count)d connection%(s)s (the oldest idle, or the new one "
        "when none was idle) since the last report; raise the descriptor limit (ulimit -n, LimitNOFILE=) to allow "
        "more",
    ),
    "head_too_large": (
        logging.WARNING,
        attrgetter("max_head_bytes"),
        "answered 431 to %(count)d request%(s)s whose headers exceeded %(limit)d bytes",
    ),
    "read_timeout": (
        logging.INFO,
        attrgetter("read_timeout"),
        "closed %(count)d connection%(s)s that did not finish sending a request within %(limit)g s",
    ),
    "idle_timeout": (logging.DEBUG, attrgetter("idle_timeout"), "closed %(count)d idle connection%(s)s"),
}


class ConnectionGuard:
    """What every connection of one server shares: the limits, the counts, and who may be closed first."""

    def __init__(
        self,
        limits: ConnectionLimits,
        counts: Counter[str] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.counts: Counter[str] = counts if counts is not None else Counter()  # connections closed, by reason
        self.open = 0
        # Connections without a request in progress, oldest first (dicts keep insertion order).
        self._closable: dict[GuardedConnection, None] = {}
        self._clock = clock
        self._last_logged: dict[str, float] = {}
        self._unlogged: Counter[str] = Counter()

    def opened(self, connection: GuardedConnection) -> bool:
        """Count a new connection; over the cap close the oldest idle one, or this one if none is idle."""
        self.open += 1
        if self.open > self.limits.max_connections:
            victim = next(iter(self._closable), None)
            self.closed("cap")
            if victim is None:
                connection.transport.close()
                return False
            self._closable.pop(victim)
            victim.transport.close()
        self._closable[connection] = None
        return True

    def lost(self, connection: GuardedConnection) -> None:
        """Forget a closed connection."""
        self.open -= 1
        self._closable.pop(connection, None)

    def busy(self, connection: GuardedConnection) -> None:
        """A request's head is complete: the connection is working, not to be closed for the cap."""
        self._closable.pop(connection, None)

    def idle(self, connection: GuardedConnection) -> None:
        """The connection answered its request and waits for the next: first in line for the cap again."""
        self._closable[connection] = None

    def closed(self, reason: str) -> None:
        """Count a connection closed by a limit and log it, at most once a minute per reason."""
        self.counts[reason] += 1
        self._unlogged[reason] += 1
        now = self._clock()
        if now - self._last_logged.get(reason, -math.inf) < LOG_INTERVAL_S:
            return
        self._last_logged[reason] = now
        count, self._unlogged[reason] = self._unlogged[reason], 0
        level, limit_of, message = _CLOSED_LOGS[reason]
        logger.log(level, message, {"count": count, "s": "" if count == 1 else "s", "limit": limit_of(self.limits)})


class GuardedConnection:
    """The per-connection half of the limits, shared by the httptools and h11 protocols below.

    The protocol subclasses call these at their request boundaries: `_opened` and `_lost`, `_head_bytes_in`
    for raw bytes received while a head is being read, `_request_started`, `_head_complete`,
    `_request_complete` and `_answered`.
    """

    guard: ConnectionGuard  # set on the subclass made by protocol_class()
    # Provided by uvicorn's protocol classes.
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    server_state: Any
    timeout_keep_alive: int
    timeout_keep_alive_task: asyncio.TimerHandle | None

    # Both hooks run before (made) or around (lost) the uvicorn protocol's own, which follows in the MRO.
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count the connection and start its idle timer."""
        super().connection_made(transport)  # type: ignore[misc]
        self._opened()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection."""
        self._lost()
        super().connection_lost(exc)  # type: ignore[misc]

    def _opened(self) -> None:
        # uvicorn's keep-alive timeout after each response: the same idle timeout (uvicorn types it int).
        self.timeout_keep_alive = self.guard.limits.idle_timeout  # type: ignore[assignment]
        self._reading_head = True  # from the end of a request until the next one's head is complete
        self._head_bytes = 0
        self._read_timer: asyncio.TimerHandle | None = None
        if not self.guard.opened(self):
            return
        # uvicorn's own keep-alive timer, armed before the first request as it is after each response.
        self.timeout_keep_alive_task = self.loop.call_later(self.guard.limits.idle_timeout, self._idle_timed_out)

    def _lost(self) -> None:
        self.guard.lost(self)
        self._stop_read_timer()

    def _head_bytes_in(self, size: int) -> None:
        if self._reading_head:
            self._head_bytes += size

    def _head_too_large(self) -> bool:
        return self._reading_head and self._head_bytes > self.guard.limits.max_head_bytes

    def _request_started(self) -> None:
        """A request's first byte: it has read_timeout to arrive in full."""
        self._stop_read_timer()
        self._read_timer = self.loop.call_later(self.guard.limits.read_timeout, self._read_timed_out)

    def _head_complete(self) -> None:
        """The head is in: stop counting it, and keep the connection out of the cap's way while it works."""
        self._reading_head = False
        self._head_bytes = 0
        self.guard.busy(self)

    def _request_complete(self) -> None:
        """The body is in: what follows on this connection is the next request's head."""
        self._stop_read_timer()
        self._reading_head = True

    def _answered(self) -> None:
        """The response is sent and nothing else runs: the connection may be closed for the cap again."""
        if not self.transport.is_closing():
            self.guard.idle(self)

    def timeout_keep_alive_handler(self) -> None:
        """uvicorn's keep-alive timeout after a response: counted like the idle timeout."""
        self._idle_timed_out()

    def _idle_timed_out(self) -> None:
        if not self.transport.is_closing():
            self.guard.closed("idle_timeout")
            self.transport.close()

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if not self.transport.is_closing():
            self.guard.closed("read_timeout")
            self.transport.close()

    def _stop_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _refuse_head(self) -> None:
        # Written as uvicorn writes its own 400 for a request it cannot parse (send_400_response);
        # no parser state allows a response to a request whose head never ended.
        self.guard.closed("head_too_large")
        content = [b"HTTP/1.1 431 ", http.HTTPStatus(431).phrase.encode("ascii"), b"\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(_431_BODY)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                _431_BODY,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


class GuardedH11Protocol(GuardedConnection, H11Protocol):
    """uvicorn's h11 protocol with the limits above (where httptools is missing)."""

    def data_received(self, data: bytes) -> None:
        """Feed h11; follow the request's progress through h11's state for the client."""
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE and self._read_timer is None:
            self._request_started()
        self._head_bytes_in(len(data))
        super().data_received(data)
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if self._reading_head and state is not h11.IDLE:
            self._head_complete()
        if state is h11.DONE or state is h11.MUST_CLOSE:
            self._request_complete()
            self._reading_head = False  # h11 holds the next request until this one is answered
        if self._head_too_large():
            self._refuse_head()

    def on_response_complete(self) -> None:
        """Answered: h11 has moved on to the next request, if any arrived."""
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._reading_head = True
            self._answered()


def protocol_class(guard: ConnectionGuard, base: type[GuardedConnection]) -> type[asyncio.Protocol]:
    """base (GuardedH11Protocol or GuardedHttpToolsProtocol) bound to one server's guard, for `Config(http=...)`."""
    bound = type(base.__name__, (base,), {"guard": guard})
    assert issubclass(bound, asyncio.Protocol)
    return bound
