"""The outermost ASGI layer: logging, rate-limit headers, and injected faults.

For every API request (admin routes pass straight through) it draws a fault decision, sleeps the
added latency with `asyncio.sleep` (so concurrent requests really overlap), then either serves the
fault or calls the application, adding each service's rate-limit headers to the response, and
finally appends a RequestRecord to the log.

Dropping a connection: ASGI has no "close without answering" message, and uvicorn answers 500 when
an app raises before responding. So, under uvicorn, we reach the connection's transport through
the `send` callable (a bound method of uvicorn's per-request cycle, which holds `transport`), read
the request body to its end and abort it: the client sees the connection close with no response at
all, as with a crashed proxy.
Under any other server (or in-process ASGI transports) there is no transport to abort, and the
middleware raises `ConnectionDropped` instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ld_sentry_cli.sandbox.errors import (
    Service,
    ld_rate_limited,
    sentry_rate_limited,
    server_error,
    service_for,
)
from ld_sentry_cli.sandbox.faults import FaultDecision, FaultKind
from ld_sentry_cli.sandbox.recorder import RequestRecord
from ld_sentry_cli.sandbox.state import SandboxState

RouteResolver = Callable[[Scope], "str | None"]


class ConnectionDropped(ConnectionResetError):
    """Raised in place of a dropped connection when the server's transport is out of reach."""


class SandboxMiddleware:
    """Wraps the Starlette app; see the module docstring."""

    def __init__(self, app: ASGIApp, state: SandboxState, resolve_route: RouteResolver) -> None:
        self.app = app
        self.state = state
        self.resolve_route = resolve_route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI request."""
        service = service_for(scope["path"]) if scope["type"] == "http" else Service.OTHER  # lifespan: no path
        if scope["type"] != "http" or service is Service.ADMIN:
            await self.app(scope, receive, send)
            return
        route = self.resolve_route(scope)
        method: str = scope["method"]
        query = scope.get("query_string", b"").decode("latin-1")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        started_at, started = time.time(), time.perf_counter()
        recorder = self.state.recorder
        recorder.begin(service.value)
        status: list[int] = []
        decision = self.state.injector.decide(method, scope["path"], query)
        try:
            if decision.delay_s:
                await _sleep_at_least(decision.delay_s, since=started)
            endpoint = f"{method} {route or scope['path']}"
            await self._respond(
                scope, receive, send, service=service, endpoint=endpoint, decision=decision, status=status
            )
        finally:
            recorder.finish(
                RequestRecord(
                    method=method,
                    path=scope["path"],
                    query=query,
                    status=status[0] if status else None,
                    service=service.value,
                    route=route,
                    ld_api_version=headers.get("ld-api-version"),
                    user_agent=headers.get("user-agent"),
                    duration_ms=(time.perf_counter() - started) * 1000,
                    started_at=started_at,
                    fault=None if decision.kind is FaultKind.NONE else decision.kind.value,
                )
            )

    async def _respond(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        service: Service,
        endpoint: str,
        decision: FaultDecision,
        status: list[int],
    ) -> None:
        async def send_recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        if decision.kind is FaultKind.DROPPED:
            await _drop_connection(receive, send)
            return
        if decision.kind is FaultKind.SERVER_ERROR and decision.status is not None:
            await server_error(service, decision.status)(scope, receive, send_recording)
            return
        if service is Service.SENTRY:
            await self._sentry(scope, receive, send_recording, endpoint, decision)
        elif service in (Service.LAUNCHDARKLY, Service.EVENT_IMPORT):
            await self._launchdarkly(scope, receive, send_recording, endpoint, decision)
        else:
            await self.app(scope, receive, send_recording)

    async def _launchdarkly(
        self, scope: Scope, receive: Receive, send: Send, endpoint: str, decision: FaultDecision
    ) -> None:
        now_ms = epoch_ms_now()
        limiter = self.state.ld_limiter
        if decision.kind is FaultKind.RATE_LIMITED:
            state = limiter.exhausted(endpoint, now_ms, decision.reset_ms)
        else:
            state = limiter.hit(endpoint, now_ms)
        if state.exceeded:
            await ld_rate_limited(state.headers())(scope, receive, send)
            return
        await self.app(scope, receive, _with_headers(send, state.headers()))

    async def _sentry(self, scope: Scope, receive: Receive, send: Send, endpoint: str, decision: FaultDecision) -> None:
        limiter = self.state.sentry_limiter
        now_s = time.time()
        if decision.kind is FaultKind.RATE_LIMITED:
            state = limiter.exhausted(endpoint, now_s, decision.reset_ms)
            await sentry_rate_limited(state.message(), state.headers())(scope, receive, send)
            return
        state = limiter.acquire(endpoint, now_s)
        try:
            if state.exceeded:
                response: Response = sentry_rate_limited(state.message(), state.headers())
                await response(scope, receive, send)
                return
            await self.app(scope, receive, _with_headers(send, state.headers()))
        finally:
            limiter.release(endpoint)


def epoch_ms_now() -> int:
    """Now, in Unix milliseconds."""
    return int(time.time() * 1000)


def _with_headers(send: Send, extra: dict[str, str]) -> Send:
    encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *encoded]}
        await send(message)

    return wrapped


async def _drop_connection(receive: Receive, send: Send) -> None:
    """Close the connection without a response (see the module docstring)."""
    cycle: Any = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise ConnectionDropped("sandbox dropped the connection (fault injection)")
    # Take in the whole request first: a socket closed with unread bytes (a body still arriving)
    # makes the kernel send a reset, which the client may read as ECONNRESET instead of the close.
    # Under uvloop about half the drops of a POST were resets; with the body read first, none are.
    while (await receive()).get("more_body", False):
        pass
    transport.abort()
    # Let uvicorn's connection_lost run, which marks the cycle disconnected, so that it does not
    # try to send a 500 for an app that returned without responding.
    for _ in range(3):
        await asyncio.sleep(0)


async def _sleep_at_least(seconds: float, *, since: float) -> None:
    """Sleep until `seconds` after `since` (perf_counter), never less: the added latency is a floor."""
    # uvloop's timers count whole milliseconds from the loop's cached clock, so one sleep can end a
    # fraction of a millisecond early; top it up rather than report a request faster than configured.
    remaining = seconds
    while remaining > 0:
        await asyncio.sleep(remaining)
        remaining = since + seconds - time.perf_counter()
