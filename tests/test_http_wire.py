"""ApiSession on a real socket: what a misbehaving server or the network does must never change an answer.

A scripted loopback server sends exact bytes. These cases once broke a hand-written transport; any
transport ApiSession uses is held to them (today httpx's own).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from support import FakeTime

from ld_sentry_cli import launchdarkly
from ld_sentry_cli.errors import NetworkError
from ld_sentry_cli.http import ApiSession, RetryPolicy

TOKEN = "api-0a1b2c3d-1111-2222-3333-444455556666"

Reply = Callable[[bytes], bytes]  # request head -> raw bytes to send back


def json_reply(body: Any, *extra_headers: str) -> bytes:
    """A complete 200 response with a Content-Length body."""
    payload = json.dumps(body).encode()
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(payload)}", *extra_headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


class ScriptedServer:
    """A loopback HTTP/1.1 server: every request goes to `reply`.

    With `close_after` set, it closes each connection that many seconds after its first answer, without
    a `Connection: close` and without reading on: a client that reuses the connection meanwhile sends
    its next request into a socket that is closing, as against a server's idle timeout.
    """

    def __init__(self, reply: Reply, *, close_after: float | None = None) -> None:
        self.reply = reply
        self.close_after = close_after
        self.heads: list[bytes] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                body = await reader.readexactly(length)
                self.heads.append(head + body)
                writer.write(self.reply(head))
                await writer.drain()
                if self.close_after is not None:
                    await asyncio.sleep(self.close_after)
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def session_for(url: str, *, attempts: int = 5) -> ApiSession:
    options = FakeTime().options(retry=RetryPolicy(max_attempts=attempts))
    return ApiSession(
        url, conventions=launchdarkly.CONVENTIONS, auth_header="Authorization", auth_value=TOKEN, options=options
    )


def numbered(head: bytes) -> int:
    """The n in a request line `GET /n HTTP/1.1`."""
    return int(head.split(b" ")[1].strip(b"/").split(b"?")[0])


def test_a_stray_byte_after_each_response_changes_no_answer() -> None:
    async def go() -> list[Any]:
        async with (
            ScriptedServer(lambda head: json_reply({"n": numbered(head)}) + b"X") as server,
            session_for(server.url) as session,
        ):
            return [await session.get_json(f"/{n}") for n in range(12)]

    assert asyncio.run(go()) == [{"n": n} for n in range(12)]


def test_a_second_response_in_the_same_write_does_not_replace_the_first() -> None:
    async def go() -> Any:
        async with (
            ScriptedServer(lambda head: json_reply({"first": True}) + json_reply({"first": False})) as server,
            session_for(server.url) as session,
        ):
            return await session.get_json("/0")

    assert asyncio.run(go()) == {"first": True}


def test_gets_succeed_against_a_server_that_closes_every_connection() -> None:
    async def go() -> tuple[list[Any], int]:
        async with (
            ScriptedServer(lambda head: json_reply({"n": numbered(head)}), close_after=0.005) as server,
            session_for(server.url) as session,
        ):
            answers = [await session.get_json(f"/{n}") for n in range(200)]
            return answers, len(server.heads)

    answers, received = asyncio.run(go())
    assert answers == [{"n": n} for n in range(200)]
    assert received >= 200


def test_a_post_is_never_sent_twice_and_a_failed_one_says_so() -> None:
    # The server closes each connection after one answer, without saying so: a POST that lands on a
    # connection it is closing fails, and must not be resent, as it may have been applied.
    succeeded: list[int] = []
    failures: list[NetworkError] = []

    async def go() -> list[bytes]:
        async with (
            ScriptedServer(lambda head: json_reply({}), close_after=0.005) as server,
            session_for(server.url) as session,
        ):
            for n in range(100):
                try:
                    await session.request("POST", "/api/v2/metrics/p", json_body={"n": n})
                    succeeded.append(n)
                except NetworkError as err:
                    failures.append(err)
            return server.heads

    heads = asyncio.run(go())
    received = [json.loads(head.split(b"\r\n\r\n", 1)[1])["n"] for head in heads]
    assert len(received) == len(set(received))  # no body reached the server twice
    assert set(succeeded) <= set(received)
    assert len(succeeded) + len(failures) == 100
    assert failures, "the server closed no connection under a POST: the case was not exercised"
    for err in failures:
        assert err.message.endswith("; the POST was not resent, as it may have been applied")


def test_an_oversized_header_block_is_a_clear_error() -> None:
    def reply(head: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (8 << 20) + b"\r\nContent-Length: 2\r\n\r\n{}"

    async def go() -> None:
        async with ScriptedServer(reply) as server, session_for(server.url, attempts=2) as session:
            await session.get_json("/x")

    with pytest.raises(NetworkError) as caught:
        asyncio.run(go())
    assert caught.value.message.startswith("LaunchDarkly at 127.0.0.1:")
    assert caught.value.message.endswith(
        " sent no valid HTTP response after 2 attempts: its response headers are too large"
    )


def test_a_proxy_from_the_system_settings_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib.request.getproxies() is how httpx reads proxies: the environment everywhere, and the
    # system settings on macOS and Windows. httpx binds it by name in httpx._utils.
    async def go() -> tuple[Any, list[bytes]]:
        async with ScriptedServer(lambda head: json_reply({"via": "proxy"})) as proxy:
            monkeypatch.setattr(httpx._utils, "getproxies", lambda: {"http": proxy.url})
            # Nothing listens at the target: only the proxy can answer.
            async with session_for("http://127.0.0.1:9") as session:
                return await session.get_json("/api/v2/projects"), proxy.heads

    answer, heads = asyncio.run(go())
    assert answer == {"via": "proxy"}
    assert heads[0].startswith(b"GET http://127.0.0.1:9/api/v2/projects HTTP/1.1\r\n")
