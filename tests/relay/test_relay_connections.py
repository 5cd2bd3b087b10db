"""The relay's connection limits over real HTTP on loopback: idle and read timeouts, 431, and the connection cap."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from ld_sentry_cli.listening import bind, url_of
from ld_sentry_cli.relay.connections import ConnectionGuard, ConnectionLimits, connection_cap
from ld_sentry_cli.relay.server import BACKLOG, server_config

WAIT_S = 5.0
Protocol = Literal["httptools", "h11"]  # upper bound for anything the server should do within a fraction of a second


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body, answer 200 with its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@dataclass
class Running:
    url: str
    host: str
    port: int
    guard: ConnectionGuard


@pytest.fixture(params=["httptools", "h11"])
def protocol(request: pytest.FixtureRequest) -> Protocol:
    """Both of uvicorn's HTTP/1.1 protocols: httptools (the relay's) and h11 (where httptools is missing)."""
    value: Protocol = request.param
    return value


@contextmanager
def serving(limits: ConnectionLimits, protocol: Protocol) -> Iterator[Running]:
    """The relay's uvicorn configuration around a small app, in a thread."""
    guard = ConnectionGuard(limits)
    sock = bind("127.0.0.1", 0, backlog=BACKLOG)
    server = uvicorn.Server(server_config(echo_length, guard, lifespan="off", http=protocol))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    expected = {"httptools": "GuardedHttpToolsProtocol", "h11": "GuardedH11Protocol"}[protocol]
    assert server.config.http_protocol_class.__name__ == expected
    host, port = sock.getsockname()[:2]
    try:
        yield Running(url_of(sock), host, port, guard)
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
        sock.close()


def connect(running: Running) -> socket.socket:
    return socket.create_connection((running.host, running.port), timeout=WAIT_S)


def closed_by_server(client: socket.socket, timeout: float = WAIT_S) -> tuple[bool, bytes]:
    """Read until the server closes the connection (True) or timeout passes (False); return what it sent."""
    client.settimeout(timeout)
    received = b""
    try:
        while chunk := client.recv(65536):
            received += chunk
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        pass
    return True, received


def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(protocol: Protocol) -> None:
    with serving(ConnectionLimits(max_connections=100, idle_timeout=0.3), protocol) as running:
        client = connect(running)
        started = time.monotonic()
        closed, received = closed_by_server(client)
        elapsed = time.monotonic() - started
        client.close()
        assert closed and received == b""
        assert 0.25 <= elapsed < 2.0
        assert running.guard.counts == {"idle_timeout": 1}


def test_headers_sent_too_slowly_are_cut_off_after_the_read_timeout(protocol: Protocol) -> None:
    with serving(ConnectionLimits(max_connections=100, idle_timeout=0.3, read_timeout=0.6), protocol) as running:
        client = connect(running)
        started = time.monotonic()
        client.sendall(b"POST /hooks/sentry HTTP/1.1\r\nHost: relay\r\n")
        closed = False
        while not closed and time.monotonic() - started < WAIT_S:
            try:
                client.sendall(b"X")  # a header name that never ends, a byte every 50 ms
            except OSError:
                closed = True
                break
            closed, _ = closed_by_server(client, 0.05)
        elapsed = time.monotonic() - started
        client.close()
        assert closed
        assert 0.55 <= elapsed < 2.5
        assert running.guard.counts == {"read_timeout": 1}


def test_a_body_sent_too_slowly_is_cut_off_after_the_read_timeout(protocol: Protocol) -> None:
    with serving(ConnectionLimits(max_connections=100, read_timeout=0.5), protocol) as running:
        client = connect(running)
        client.sendall(b"POST / HTTP/1.1\r\nHost: relay\r\nContent-Length: 100\r\n\r\n0123456789")
        started = time.monotonic()
        closed, received = closed_by_server(client)
        client.close()
        assert closed and received == b""
        assert time.monotonic() - started < 2.0
        assert running.guard.counts == {"read_timeout": 1}


def test_request_headers_over_the_limit_are_answered_431(protocol: Protocol) -> None:
    with serving(ConnectionLimits(max_connections=100, max_head_bytes=16 * 1024), protocol) as running:
        client = connect(running)
        client.sendall(b"POST / HTTP/1.1\r\nHost: relay\r\nX-Big: " + b"a" * 17 * 1024)
        closed, received = closed_by_server(client)
        client.close()
        assert closed
        assert received.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        assert received.endswith(b"\r\n\r\nRequest header fields too large.")
        assert running.guard.counts == {"head_too_large": 1}


def test_an_eight_megabyte_header_is_refused_without_reading_it_all(protocol: Protocol) -> None:
    with serving(ConnectionLimits(max_connections=100), protocol) as running:
        client = connect(running)
        sent = 0
        chunk = b"POST / HTTP/1.1\r\nHost: relay\r\nX-Big: " + b"a" * 65536
        try:
            while sent < 8 * 1024 * 1024:
                client.sendall(chunk)
                sent += len(chunk)
                chunk = b"a" * 65536
        except OSError:
            pass  # the server answered and closed while we were still sending
        closed, received = closed_by_server(client)
        client.close()
        assert closed and sent < 8 * 1024 * 1024
        assert received == b"" or received.startswith(b"HTTP/1.1 431 ")
        assert running.guard.counts == {"head_too_large": 1}


def test_requests_within_the_limits_are_served_on_a_kept_alive_connection(protocol: Protocol) -> None:
    limits = ConnectionLimits(max_connections=100, idle_timeout=0.5, read_timeout=1.0, max_head_bytes=4096)
    with serving(limits, protocol) as running, httpx.Client(base_url=running.url, trust_env=False) as client:
        big_body = b"x" * 200_000  # the body is not the head: no 431 however large
        first = client.post("/", content=big_body, headers={"X-Pad": "p" * 3000})
        time.sleep(0.3)  # shorter than the idle timeout: the same connection serves the next request
        second = client.post("/", content=b"abc")
        assert (first.status_code, first.text, second.status_code, second.text) == (200, "200000", 200, "3")
        assert running.guard.counts == {}
        assert running.guard.open == 1


def test_over_the_cap_the_oldest_idle_connections_are_closed_and_a_webhook_still_gets_through(
    caplog: pytest.LogCaptureFixture, protocol: Protocol
) -> None:
    caplog.set_level(logging.INFO, logger="ldsentry.relay")
    with serving(ConnectionLimits(max_connections=5), protocol) as running:
        idle = [connect(running) for _ in range(8)]
        response = httpx.post(running.url + "/", content=b"hello", trust_env=False, timeout=WAIT_S)
        assert (response.status_code, response.text) == (200, "5")
        # The three oldest idle sockets made room for the five newest, then the oldest of those for the request.
        assert [closed_by_server(sock, 0.5)[0] for sock in idle] == [True] * 4 + [False] * 4
        for sock in idle:
            sock.close()
        assert running.guard.counts["cap"] == 4
    warnings = [r.getMessage() for r in caplog.records if r.name == "ldsentry.relay.connections"]
    assert warnings == [
        "connection cap of 5 reached: closed 1 connection (the oldest idle, or the new one when none was idle) "
        "since the last report; raise the descriptor limit (ulimit -n, LimitNOFILE=) to allow more"
    ]


def test_when_every_connection_is_busy_a_new_one_is_refused(protocol: Protocol) -> None:
    with serving(ConnectionLimits(max_connections=2, read_timeout=2.0), protocol) as running:
        busy = [connect(running) for _ in range(2)]
        for sock in busy:  # heads complete, bodies pending: working connections, not closable
            sock.sendall(b"POST / HTTP/1.1\r\nHost: relay\r\nContent-Length: 10\r\n\r\n01234")
        time.sleep(0.1)
        extra = connect(running)
        assert closed_by_server(extra, 1.0)[0]
        for sock in busy:
            sock.sendall(b"56789")
            _, received = closed_by_server(sock, 0.5)
            assert received.startswith(b"HTTP/1.1 200 ")
            sock.close()
        extra.close()
        assert running.guard.counts == {"cap": 1}


@pytest.mark.parametrize(("soft", "cap"), [(1024, 896), (256, 156), (150, 75), (65536, 57344), (None, 60_000), (1, 1)])
def test_the_cap_leaves_descriptors_for_the_spool_and_the_forwarder(soft: int | None, cap: int) -> None:
    assert connection_cap(soft) == cap
