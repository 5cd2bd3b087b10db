"""The wire under http.py: an httpx transport speaking HTTP/1.1 over asyncio with httptools' parser.

An httpx client on httpx's default transport (httpcore on anyio, parsing with the pure-Python h11)
costs 2.2–2.9 ms of CPU per request on a 2-core CI machine, and 0.5 ms on this one; `status` on a
large config makes hundreds of requests, so the transport, not the network, bounded its run time
(BENCHMARKS.md). httpx keeps everything else: the client, URLs, headers, content decoding and the
error classes that http.py handles. This module only moves bytes: keep-alive connections per
origin, each response parsed by httptools (llhttp; already a dependency for uvicorn's fast path)
and read whole, since ApiSession reads every body whole anyway. Requests are small and written at
once; the read timeout, armed when a request is written, also bounds a server that stops reading.

Left to httpx's own transport, which ApiSession picks instead (see `lean_transport_applies`):
proxies from the environment, and HTTP/2, which ldsentry does not ask for.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from typing import cast

import httptools
import httpx

_KEEPALIVE_EXPIRY = 4.0  # seconds; below uvicorn's and many servers' 5 s idle timeout, so a reused connection is open
_MAX_IDLE_PER_ORIGIN = 20
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Happy Eyeballs (RFC 8305), as httpx's own transport has it through anyio: when a host's first
# address does not answer (an IPv6 route that drops packets), the next one is tried after this many
# seconds instead of after the whole connect timeout.
_HAPPY_EYEBALLS_DELAY = 0.25

Origin = tuple[str, str, int]


def lean_transport_applies() -> bool:
    """False when a proxy variable is set: httpx's own transport then routes requests (and NO_PROXY) as before."""
    return not any(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARIABLES)


class _Exchange:
    """One response being received: what the parser has delivered so far."""

    def __init__(self, future: asyncio.Future[None], head_only: bool) -> None:
        self.future = future
        self.head_only = head_only
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.headers_done = False
        self.until_close = False  # no Content-Length and not chunked: the body ends when the server closes


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; httptools calls the `on_*` methods while it parses."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._exchange: _Exchange | None = None
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's transports (the relay runs on uvloop) do not
        # subclass asyncio.Transport, though they offer its methods.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._last_read = self._loop.time()
        if self._exchange is None:  # bytes nobody asked for: the connection's state is unknown
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("The server switched protocols, which ldsentry does not use."))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"Malformed HTTP response: {exc}"))

    def eof_received(self) -> bool:
        exchange = self._exchange
        if exchange is not None and exchange.headers_done and exchange.until_close:
            self.reusable = False
            self.on_message_complete()
        return False  # let asyncio close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if exc is not None:
            self._fail(httpx.ReadError(str(exc) or type(exc).__name__))
        else:
            self._fail(httpx.RemoteProtocolError("Server disconnected without sending a complete response."))

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self._exchange is not None:  # after a 1xx response: start over for the final one
            self._exchange.reason = b""
            self._exchange.headers.clear()
            self._exchange.body.clear()

    def on_status(self, reason: bytes) -> None:
        if self._exchange is not None:
            self._exchange.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._exchange is not None:
            self._exchange.headers.append((name, value))

    def on_headers_complete(self) -> None:
        exchange = self._exchange
        if exchange is None:
            return
        exchange.status = self._parser.get_status_code()
        exchange.headers_done = True
        names = {name.lower() for name, _ in exchange.headers}
        exchange.until_close = (
            exchange.status >= 200
            and exchange.status not in (204, 304)
            and b"content-length" not in names
            and b"transfer-encoding" not in names
        )
        if exchange.head_only:  # a HEAD response announces a body it does not send
            self.reusable = False
            self._finish()

    def on_body(self, body: bytes) -> None:
        if self._exchange is not None:
            self._exchange.body.append(body)

    def on_message_complete(self) -> None:
        exchange = self._exchange
        if exchange is None or exchange.future.done() or 100 <= exchange.status < 200:
            return  # an informational response: the final one follows on the same connection
        if not exchange.until_close:
            self.reusable = self._parser.should_keep_alive()
        self._finish()

    # used by the transport

    async def exchange(self, message: bytes, *, read_timeout: float | None, head_only: bool) -> _Exchange:
        """Send one request and wait for its whole response, with at most `read_timeout` between reads."""
        assert self._transport is not None
        exchange = _Exchange(self._loop.create_future(), head_only)
        self._exchange = exchange
        self.reusable = False
        self._last_read = self._loop.time()
        if read_timeout is not None:
            self._timer = self._loop.call_later(read_timeout, self._check_read, read_timeout)
        self._transport.write(message)
        try:
            await exchange.future
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._exchange = None
        return exchange

    def close(self) -> None:
        """Close the connection; a request waiting on it fails."""
        self.reusable = False
        if self._transport is not None and not self.closed:
            self._transport.close()
        self.closed = True

    def _check_read(self, timeout: float) -> None:
        # One timer per request, re-armed on its own schedule: cheaper than one per chunk read.
        idle = self._loop.time() - self._last_read
        if idle < timeout:
            self._timer = self._loop.call_later(timeout - idle, self._check_read, timeout)
            return
        self._timer = None
        self._fail(httpx.ReadTimeout(f"No response data for {timeout:g} s."))  # and closes the connection

    def _finish(self) -> None:
        if self._exchange is not None and not self._exchange.future.done():
            self._exchange.future.set_result(None)

    def _fail(self, error: httpx.TransportError) -> None:
        # A connection that failed mid-response is in an unknown state: never reuse it.
        if self._exchange is not None and not self._exchange.future.done():
            self._exchange.future.set_exception(error)
            self.close()


class Http11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive connections per origin, for http:// and https:// (with the given TLS context)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send the request on an idle or new connection and return the whole response."""
        url = request.url
        origin = (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 80))
        timeouts = request.extensions.get("timeout", {})
        message = _request_bytes(request, await request.aread())
        connection = self._idle_connection(origin) or await self._connect(origin, timeouts.get("connect"), request)
        try:
            exchange = await connection.exchange(
                message, read_timeout=timeouts.get("read"), head_only=request.method == "HEAD"
            )
        except httpx.TransportError as exc:
            exc.request = request
            self._discard(connection)
            raise
        except BaseException:  # cancelled mid-response: nobody can read the rest of it
            self._discard(connection)
            raise
        if connection.reusable:
            self._release(origin, connection)
        else:
            self._discard(connection)
        return httpx.Response(
            exchange.status,
            headers=exchange.headers,
            stream=httpx.ByteStream(b"".join(exchange.body)),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": exchange.reason},
        )

    async def aclose(self) -> None:
        """Close every connection."""
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < _KEEPALIVE_EXPIRY:
                return connection
            self._discard(connection)
        return None

    async def _connect(self, origin: Origin, timeout: float | None, request: httpx.Request) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        secure = scheme == "https"
        if secure and self._ssl_context is None:
            raise httpx.ConnectError("No TLS context was given for https.", request=request)
        tls = self._ssl_context if secure else None
        name = host if secure else None
        if isinstance(loop, asyncio.BaseEventLoop):
            opening = loop.create_connection(
                lambda: _Connection(loop),
                host,
                port,
                ssl=tls,
                server_hostname=name,
                happy_eyeballs_delay=_HAPPY_EYEBALLS_DELAY,
            )
        else:  # uvloop (the relay's loop) has no Happy Eyeballs option: it tries the addresses in turn
            opening = loop.create_connection(lambda: _Connection(loop), host, port, ssl=tls, server_hostname=name)
        try:
            _, connection = await asyncio.wait_for(opening, timeout)
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(f"Timed out connecting to {host}:{port}.", request=request) from None
        except OSError as exc:  # refused, unreachable, DNS, TLS verification (ssl.SSLError is an OSError)
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        self._open.add(connection)
        return connection

    def _release(self, origin: Origin, connection: _Connection) -> None:
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= _MAX_IDLE_PER_ORIGIN:
            self._discard(connection)
            return
        connection.idle_since = asyncio.get_running_loop().time()
        idle.append(connection)

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)


def _request_bytes(request: httpx.Request, body: bytes) -> bytes:
    """The request line, headers and body; httpx has already set Host and Content-Length."""
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    chunked = False
    for name, value in request.headers.raw:
        if b"\r" in name or b"\n" in name or b"\r" in value or b"\n" in value:
            raise httpx.LocalProtocolError("A request header contains a line break.", request=request)
        chunked = chunked or (name.lower() == b"transfer-encoding" and value.lower() == b"chunked")
        lines.append(name + b": " + value)
    if chunked:  # a body of unknown length, read whole above: send it as one chunk
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
