"""Http11Transport on the wire: a scripted loopback server sends exact bytes, httpx reads them back."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ld_sentry_cli.errors import NetworkError
from ld_sentry_cli.http import ApiSession, RetryPolicy, SessionOptions
from ld_sentry_cli.http_transport import Http11Transport, lean_transport_applies

CLOSE = b"<close>"  # close the connection instead of answering
HANG = b"<hang>"  # read the request and never answer


def reply(status: str, body: bytes = b"", *headers: str) -> bytes:
    """A complete response with Content-Length."""
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class ScriptedServer:
    """A loopback server answering the n-th request (over any connection) with the n-th scripted reply."""

    def __init__(self, replies: list[bytes], tls: ssl.SSLContext | None = None) -> None:
        self.replies = list(replies)
        self.tls = tls
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.replies:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                self.requests.append(head + await reader.readexactly(length))
                answer = self.replies.pop(0)
                if answer == HANG:
                    await asyncio.sleep(3600)
                writer.write(answer.removesuffix(CLOSE))
                await writer.drain()
                if answer.endswith(CLOSE) or b"connection: close" in answer.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def run(test: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(test())


async def get(
    url: str, path: str = "/", *, timeout: float = 5.0, transport: Http11Transport | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport or Http11Transport(), timeout=timeout) as client:
        return await client.get(url + path)


def test_keep_alive_reuses_one_connection_and_sends_httpx_headers() -> None:
    async def scenario() -> None:
        async with ScriptedServer([reply("200 OK", b'{"a":1}'), reply("201 Created", b"{}")]) as server:
            async with httpx.AsyncClient(transport=Http11Transport(), base_url=server.url) as client:
                first = await client.get("/api/v2/metrics/p?limit=50&offset=0", headers={"Authorization": "t"})
                second = await client.post("/api/v2/metrics/p", json={"key": "k"})
            assert (first.status_code, first.json(), first.reason_phrase) == (200, {"a": 1}, "OK")
            assert (second.status_code, second.reason_phrase) == (201, "Created")
            assert server.connections == 1
            get_head, post = server.requests
            assert get_head.startswith(b"GET /api/v2/metrics/p?limit=50&offset=0 HTTP/1.1\r\n")
            assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in get_head
            assert b"Authorization: t\r\n" in get_head
            assert post.startswith(b"POST /api/v2/metrics/p HTTP/1.1\r\n")
            assert post.endswith(b'\r\n\r\n{"key":"k"}') and b"Content-Length: 11\r\n" in post

    run(scenario)


def test_the_relay_event_loop_uvloop_works_too() -> None:
    uvloop = pytest.importorskip("uvloop")  # the relay runs on uvloop, whose transports are its own classes

    async def scenario() -> None:
        async with ScriptedServer([reply("200 OK", b"1"), reply("200 OK", b"2")]) as server:
            async with httpx.AsyncClient(transport=Http11Transport(), base_url=server.url) as client:
                assert [(await client.get("/")).content for _ in range(2)] == [b"1", b"2"]
            assert server.connections == 1

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


def test_chunked_gzip_response_is_decoded_by_httpx() -> None:
    packed = gzip.compress(b'{"items": []}')
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
        + b"%x\r\n%s\r\n" % (5, packed[:5])
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(packed) - 5, packed[5:])
    )

    async def scenario() -> None:
        async with ScriptedServer([chunked]) as server:
            response = await get(server.url)
        assert response.json() == {"items": []}

    run(scenario)


def test_body_ended_by_close_and_informational_response_first() -> None:
    until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nwhole body"
    early_hints = b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + reply("204 No Content")

    async def scenario() -> None:
        async with ScriptedServer([until_close]) as server:
            assert (await get(server.url)).content == b"whole body"
        async with ScriptedServer([early_hints]) as server:
            response = await get(server.url)
            assert (response.status_code, response.headers.get("link"), response.content) == (204, None, b"")

    run(scenario)


def test_a_connection_the_server_closed_is_not_reused() -> None:
    async def scenario() -> None:
        closing = reply("200 OK", b"1", "Connection: close")
        async with ScriptedServer([closing, reply("200 OK", b"2")]) as server:
            async with httpx.AsyncClient(transport=Http11Transport(), base_url=server.url) as client:
                assert (await client.get("/")).content == b"1"
                assert (await client.get("/")).content == b"2"
            assert server.connections == 2

    run(scenario)


def test_head_response_completes_without_a_body() -> None:
    async def scenario() -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"
        async with ScriptedServer([head]) as server, httpx.AsyncClient(transport=Http11Transport()) as client:
            response = await client.head(server.url)
        assert (response.status_code, response.headers["content-length"], response.content) == (200, "500", b"")

    run(scenario)


@pytest.mark.parametrize(
    ("script", "error", "message"),
    [
        ([CLOSE], httpx.RemoteProtocolError, "Server disconnected without sending a complete response."),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort" + CLOSE], httpx.RemoteProtocolError, "Server disc"),
        ([b"NOT HTTP AT ALL\r\n\r\n"], httpx.RemoteProtocolError, "Malformed HTTP response"),
        ([HANG], httpx.ReadTimeout, "No response data for 0.2 s."),
    ],
)
def test_broken_responses_raise_httpx_transport_errors(
    script: list[bytes], error: type[Exception], message: str
) -> None:
    async def scenario() -> None:
        async with ScriptedServer(script) as server:
            with pytest.raises(error, match=message.replace(".", r"\.")) as caught:
                await get(server.url, "/x", timeout=0.2)
            assert isinstance(caught.value, httpx.RequestError)
            assert caught.value.request.url.path == "/x"

    run(scenario)


def test_connection_refused_names_the_cause() -> None:
    async def scenario() -> None:
        async with ScriptedServer([]) as server:
            port = server.port
        with pytest.raises(httpx.ConnectError, match=rf"Connect call failed \('127\.0\.0\.1', {port}\)"):
            await get(f"http://127.0.0.1:{port}")

    run(scenario)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the unanswering address relies on Linux's backlog")
def test_an_address_that_does_not_answer_is_raced_by_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two addresses for one host, as for a name with IPv6 and IPv4 addresses: the first accepts no
    # connection and answers no SYN (a full backlog drops them), like an IPv6 route that loses packets.
    async def scenario() -> None:
        async with ScriptedServer([reply("200 OK", b"by the second address")]) as server:
            silent = socket.socket()
            silent.bind(("127.0.0.2", server.port))
            silent.listen(0)
            fillers = [socket.socket() for _ in range(3)]
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.2", server.port))
            addresses = [("127.0.0.2", server.port), ("127.0.0.1", server.port)]

            async def resolve(*args: object, **kwargs: object) -> list[tuple[Any, ...]]:
                return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address) for address in addresses]

            monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolve)
            try:
                started = time.monotonic()
                response = await get(f"http://service.example.test:{server.port}", timeout=3.0)
                assert response.content == b"by the second address"
                assert time.monotonic() - started < 1.5  # not the 3 s connect timeout
            finally:
                for sock in (silent, *fillers):
                    sock.close()

    run(scenario)


def test_a_line_break_in_a_header_is_refused_before_sending() -> None:
    async def scenario() -> None:
        async with ScriptedServer([reply("200 OK")]) as server:
            request = httpx.Request("GET", server.url, headers={"X-Evil": "a\r\nInjected: 1"})  # httpx allows it
            with pytest.raises(httpx.LocalProtocolError, match="line break"):
                await Http11Transport().handle_async_request(request)
            assert server.requests == []

    run(scenario)


def test_cancelled_request_drops_its_connection() -> None:
    async def scenario() -> None:
        async with ScriptedServer([HANG, reply("200 OK", b"fresh")]) as server:
            async with httpx.AsyncClient(transport=Http11Transport(), base_url=server.url) as client:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(client.get("/slow"), 0.2)
                assert (await client.get("/")).content == b"fresh"
            assert server.connections == 2

    run(scenario)


def test_api_session_retries_a_dropped_get_and_reports_a_dead_server() -> None:
    async def instant(_: float) -> None:
        return None

    def session(url: str) -> ApiSession:
        options = SessionOptions(retry=RetryPolicy(max_attempts=2), sleep=instant)
        return ApiSession(url, service="LaunchDarkly", auth_header="Authorization", auth_value="tok", options=options)

    async def scenario() -> None:
        async with ScriptedServer([CLOSE, reply("200 OK", b'{"ok": true}')]) as server:
            async with session(server.url) as recovering:
                assert await recovering.get_json("/ok") == {"ok": True}
            assert server.connections == 2
        async with ScriptedServer([CLOSE, CLOSE]) as server, session(server.url) as failing:
            with pytest.raises(NetworkError) as caught:
                await failing.get_json("/gone")
        assert caught.value.message == (
            f"Could not reach LaunchDarkly at 127.0.0.1:{server.port} after 2 attempts: "
            "Server disconnected without sending a complete response."
        )

    run(scenario)


def _self_signed(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh certificate for 127.0.0.1, and a client context trusting only it."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


def test_https_verifies_the_server_certificate(tmp_path: Path) -> None:
    server_tls, trusting = _self_signed(tmp_path)

    async def scenario() -> None:
        async with ScriptedServer([reply("200 OK", b"secure"), reply("200 OK")], tls=server_tls) as server:
            assert (await get(server.url, transport=Http11Transport(ssl_context=trusting))).content == b"secure"
            strict = Http11Transport(ssl_context=ssl.create_default_context())  # the system's CAs do not know it
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await get(server.url, transport=strict)

    run(scenario)


@pytest.fixture
def without_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.usefixtures("without_proxies")
@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"])
def test_proxy_settings_hand_requests_back_to_httpx(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    assert lean_transport_applies()
    monkeypatch.setenv(variable, "http://proxy.example:3128")
    assert not lean_transport_applies()


@pytest.mark.usefixtures("without_proxies")
def test_api_session_sends_through_the_lean_transport_unless_a_proxy_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    def transport() -> object:
        session = ApiSession("https://app.launchdarkly.com", service="LaunchDarkly", auth_header="A", auth_value="t")
        return session._http()._transport

    assert isinstance(transport(), Http11Transport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert isinstance(transport(), httpx.AsyncHTTPTransport)
