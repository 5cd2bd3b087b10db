"""Serve the relay with uvicorn in the foreground, with a graceful SIGTERM.

SIGTERM (or Ctrl-C): uvicorn stops accepting connections and lets requests in flight finish
(`graceful_timeout`), then the app's lifespan flushes what it can within the relay's shutdown
timeout and leaves the rest in the spool. uvicorn re-raises the captured signal once it is done;
for SIGTERM we install a no-op handler first, so a clean shutdown exits 0 rather than dying by the
signal (systemd reads either as success; scripts and tests read 0 more easily).

Connections are bounded (relay/connections.py): an idle and a read timeout, 431 for an oversized
head, and a cap below the descriptor limit that closes idle connections first.
"""

from __future__ import annotations

import gc
import logging
import signal
import socket
import sys
from collections import Counter
from collections.abc import Callable
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from ld_sentry_cli.relay.connections import (
    H11_READ_ALLOWANCE,
    ConnectionGuard,
    ConnectionLimits,
    GuardedConnection,
    GuardedH11Protocol,
    connection_cap,
    descriptor_limit,
    protocol_class,
)

HTTPTOOLS: type[GuardedConnection] | None
try:
    from ld_sentry_cli.relay.connections_httptools import GuardedHttpToolsProtocol

    HTTPTOOLS = GuardedHttpToolsProtocol
except ImportError:  # httptools is a dependency; `bench/relay.py --plain` hides it to measure h11
    HTTPTOOLS = None

logger = logging.getLogger("ldsentry.relay.server")

BACKLOG = 2048  # Sentry sends bursts; let the kernel queue connections while the loop is busy
# CPython hands the GIL to a waiting thread only every switch interval (5 ms by default). The spool
# thread waits for it after each commit, so at 5 ms that wait was most of the p99 acknowledgement
# latency; 1 ms bounds it (BENCHMARKS.md).
SWITCH_INTERVAL_S = 0.001
# A webhook allocates a few hundred short-lived objects, so the youngest generation was collected
# every few webhooks at the default threshold (700); a larger one, and freezing the long-lived
# objects once the relay has started, gave about 15% more webhooks per second (BENCHMARKS.md).
GC_GEN0_THRESHOLD = 20_000


def default_limits() -> ConnectionLimits:
    """The connection limits for this process: the cap derived from its descriptor limit."""
    return ConnectionLimits(max_connections=connection_cap(descriptor_limit()))


def server_config(
    app: ASGIApp,
    guard: ConnectionGuard,
    *,
    graceful_timeout: int = 5,
    lifespan: Literal["on", "off"] = "on",
    http: Literal["auto", "httptools", "h11"] = "auto",
) -> uvicorn.Config:
    """The uvicorn configuration the relay serves with, its connections bounded by guard."""
    if http == "httptools" and HTTPTOOLS is None:
        raise RuntimeError("httptools cannot be imported")
    base = HTTPTOOLS if HTTPTOOLS is not None and http != "h11" else GuardedH11Protocol  # uvicorn's "auto" choice
    return uvicorn.Config(
        app,
        http=protocol_class(guard, base),  # uvicorn's own protocol, bounded (relay/connections.py)
        lifespan=lifespan,
        log_config=None,  # ldsentry's own logging (secrets masked) stays in charge
        access_log=False,
        server_header=False,
        proxy_headers=False,  # X-Forwarded-For is of no use to the relay; skip its middleware
        timeout_graceful_shutdown=graceful_timeout,
        backlog=BACKLOG,
        h11_max_incomplete_event_size=guard.limits.max_head_bytes + H11_READ_ALLOWANCE,
    )


def serve(
    app: ASGIApp,
    sock: socket.socket,
    *,
    graceful_timeout: int = 5,
    on_started: Callable[[], None] | None = None,
    limits: ConnectionLimits | None = None,
    closed_connections: Counter[str] | None = None,
) -> bool:
    """Serve until SIGTERM/SIGINT; return False when the app failed to start.

    closed_connections counts the connections closed by a limit, by reason (for /metrics).
    """
    limits = limits or default_limits()
    logger.info(
        "accepting up to %d connections (descriptor limit %s); idle timeout %g s, read timeout %g s",
        limits.max_connections,
        descriptor_limit() or "unlimited",
        limits.idle_timeout,
        limits.read_timeout,
    )
    config = server_config(app, ConnectionGuard(limits, closed_connections), graceful_timeout=graceful_timeout)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.set_threshold(GC_GEN0_THRESHOLD, 10, 10)
    server = _Server(config, on_started)

    def stop_quietly(signum: int, frame: object) -> None:
        # Before uvicorn installs its own handler: stop as soon as it starts. After its graceful
        # shutdown, when it re-raises the signal: nothing left to do.
        server.should_exit = True

    previous = signal.signal(signal.SIGTERM, stop_quietly)
    try:
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
    return server.started


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            gc.collect()
            gc.freeze()  # modules and the app live as long as the process: never scan them again
            if self._on_started is not None:
                self._on_started()
