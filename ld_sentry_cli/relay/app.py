"""The relay's HTTP face: a Starlette app with `POST /hooks/sentry`, `/healthz`, `/readyz` and `/metrics`.

The webhook route is a plain ASGI callable rather than a Starlette request handler: it reads the
raw body with a size cap (the signature covers the exact bytes, sentry-api.md §7) and skips the
Request object, which is most of the per-request cost at thousands of webhooks per second
(BENCHMARKS.md). Only `ldsentry relay serve` imports this module.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ld_sentry_cli.relay.intake import MAX_BODY_BYTES, Outcome, header_values
from ld_sentry_cli.relay.service import Relay

HOOK_PATH = "/hooks/sentry"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_JSON = (b"content-type", b"application/json")


class HookEndpoint:
    """ASGI endpoint for Sentry's webhooks."""

    def __init__(self, relay: Relay) -> None:
        self._relay = relay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read, decide, answer, and time the answer."""
        started = time.perf_counter()
        intake = self._relay.intake
        resource, signature, length = header_values(scope["headers"])
        if length is not None and length > MAX_BODY_BYTES:
            outcome = intake.too_large()  # refuse before reading a byte of it
        else:
            try:
                body = await _read_body(receive, MAX_BODY_BYTES)
            except _ClientGone:  # not a bad signature: the body never arrived in full
                outcome = intake.disconnected()
            else:
                outcome = intake.too_large() if body is None else await intake.handle(resource, signature, body)
        await _respond(send, outcome)
        self._relay.metrics.ack_latency.observe(time.perf_counter() - started)


class _ClientGone(Exception):
    """The client disconnected before sending its whole body."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None as soon as it exceeds limit bytes; _ClientGone if the client leaves first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, outcome: Outcome) -> None:
    body = outcome.body()
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append(_JSON)
    await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _json(document: object, status: int = 200) -> Response:
    return Response(json.dumps(document), status_code=status, media_type="application/json")


class RelayApp:
    """The ASGI app: `POST /hooks/sentry` goes straight to its endpoint, the rest (and the lifespan) to Starlette.

    Starlette's middleware and router cost about a tenth of the CPU per webhook (BENCHMARKS.md);
    the hot path does not need them, while the other routes keep Starlette's 404/405 handling.
    """

    def __init__(self, hook: HookEndpoint, starlette: Starlette) -> None:
        self.hook = hook
        self.starlette = starlette

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch one ASGI call."""
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == HOOK_PATH:
            await self.hook(scope, receive, send)
        else:
            await self.starlette(scope, receive, send)


def build_app(relay: Relay) -> RelayApp:
    """The relay's ASGI application; its lifespan starts and stops the relay."""

    async def healthz(request: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(request: Request) -> Response:
        problems = await relay.readiness()
        return _json({"ready": not problems, "problems": problems}, 503 if problems else 200)

    async def metrics(request: Request) -> Response:
        return Response(await relay.metrics_text(), media_type=METRICS_CONTENT_TYPE)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await relay.start()
        try:
            yield
        finally:
            await relay.stop()

    hook = HookEndpoint(relay)
    routes = [
        Route(HOOK_PATH, hook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return RelayApp(hook, Starlette(routes=routes, lifespan=lifespan))
