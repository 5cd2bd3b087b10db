"""Serve an ASGI app with uvicorn on loopback, in a background thread, and stop it quickly.

The socket is bound before uvicorn starts (port 0 picks a free port), so the URL is known at
once; uvicorn is told not to touch logging configuration or install signal handlers (it skips
them off the main thread), and shutdown waits at most a couple of seconds for in-flight requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import uvicorn
from starlette.types import ASGIApp

from ld_sentry_cli.listening import bind, url_of

_STARTUP_TIMEOUT_S = 10.0
_GRACEFUL_SHUTDOWN_S = 2
_POLL_S = 0.005
_BACKLOG = 128  # accept (queue) connections even before uvicorn's loop is up


class _QuickServer(uvicorn.Server):
    """uvicorn's Server, polling every 5 ms instead of 100 ms so that stopping takes milliseconds.

    Tests start and stop many sandboxes; uvicorn's own loop would add 0.1-0.3 s to each stop. The
    overrides keep uvicorn's semantics: stop accepting, let in-flight requests finish (at most
    `timeout_graceful_shutdown`), then cancel what is left.
    """

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            await asyncio.sleep(_POLL_S)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or _GRACEFUL_SHUTDOWN_S)
        state = self.server_state
        while (state.connections or state.tasks) and not self.force_exit and loop.time() < deadline:
            await asyncio.sleep(_POLL_S)
        for task in state.tasks:
            task.cancel()
        for connection in list(state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        for server in self.servers:
            await server.wait_closed()


@dataclass
class RunningServer:
    """A uvicorn server running in a thread; `url` is its base URL, e.g. http://127.0.0.1:54321."""

    host: str
    port: int
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        """The base URL (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit and wait for its thread; force it if it lingers."""
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)


def _config(app: ASGIApp) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        interface="asgi3",
        # httptools and uvloop (both dependencies; "auto" falls back to h11 and asyncio where they
        # are missing) use about 15% less of the emulator's CPU than h11 + asyncio on the status
        # benchmark's requests. The drop-connection fault works with either: both cycles hold `transport`.
        http="auto",
        loop="auto",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
    )


def start_server(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start uvicorn in a daemon thread on host:port (0: a free port) and wait until it accepts."""
    sock = bind(host, port, backlog=_BACKLOG)
    server = _QuickServer(_config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="ldsentry-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the sandbox server did not start on {host}:{port}")
        time.sleep(0.002)
    bound_host, bound_port = sock.getsockname()[:2]
    return RunningServer(host=_url_host(bound_host), port=bound_port, _server=server, _thread=thread)


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningServer]:
    """`with serve_in_thread(app) as server: server.url` — started on entry, stopped on exit."""
    running = start_server(app, host, port)
    try:
        yield running
    finally:
        running.stop()


def serve_forever(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve in the current thread until interrupted (Ctrl-C); `on_ready` gets the URL first."""
    sock = bind(host, port, backlog=_BACKLOG)
    if on_ready is not None:
        on_ready(url_of(sock))
    uvicorn.Server(_config(app)).run(sockets=[sock])


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
