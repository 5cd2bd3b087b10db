"""The HTTP face in-process: the hook, health, readiness, Prometheus metrics, and parked-event resolution."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from relay_helpers import (
    ATTRIBUTE_VALUES,
    SECRET,
    UNMAPPED_ID,
    WEB_ID,
    FakeProjects,
    FakeSender,
    body_of,
    error_created,
    hook_headers,
    with_started_relay,
)
from starlette.types import Message

from ld_sentry_cli.relay.app import build_app
from ld_sentry_cli.relay.forwarder import Backoff, ForwarderSettings
from ld_sentry_cli.relay.metrics import Histogram
from ld_sentry_cli.relay.model import Destination
from ld_sentry_cli.relay.service import Relay, RelayOptions
from ld_sentry_cli.relay.spool_sqlite import SqliteSpool

T = TypeVar("T")
SETTINGS = ForwarderSettings(
    batch_size=10, flush_interval=0.05, poll_interval=0.02, min_replan=0.0, backoff=Backoff(0.01, 0.1)
)


def with_relay(
    spool_path: Path,
    work: Callable[[httpx.AsyncClient, Relay], Awaitable[T]],
    *,
    projects: FakeProjects | None = None,
    sender: FakeSender | None = None,
    summary_interval: float = 60.0,
) -> T:
    """Run work against a started relay (fast forwarding and housekeeping) behind an in-process HTTP client."""
    options = RelayOptions(
        forwarder=SETTINGS, shutdown_timeout=2.0, housekeeping_interval=0.05, summary_interval=summary_interval
    )
    return with_started_relay(spool_path, work, options=options, projects=projects, sender=sender)


async def post(client: httpx.AsyncClient, document: object, resource: str = "error") -> httpx.Response:
    body = body_of(document)
    return await client.post("/hooks/sentry", content=body, headers=hook_headers(body, resource))


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)


def test_a_webhook_is_acknowledged_then_forwarded(spool_path: Path) -> None:
    sender = FakeSender()

    async def work(client: httpx.AsyncClient, relay: Relay) -> list[httpx.Response]:
        responses = [await post(client, error_created("a" * 32)), await post(client, error_created("a" * 32))]
        await until(lambda: len(sender.attempts) == 1)
        return responses

    first, again = with_relay(spool_path, work, sender=sender)
    assert (first.status_code, first.json()) == (202, {"result": "accepted", "event_id": "a" * 32})
    assert (again.status_code, again.json()) == (200, {"result": "duplicate", "event_id": "a" * 32})
    assert first.headers["content-type"] == "application/json"
    [(destination, _, events)] = sender.attempts
    assert destination == Destination("default", "production")
    assert events[0]["contextKeys"] == {"user": "user-123", "organization": "org-42"}


def test_the_hook_only_takes_post(spool_path: Path) -> None:
    async def work(client: httpx.AsyncClient, relay: Relay) -> httpx.Response:
        return await client.get("/hooks/sentry")

    assert with_relay(spool_path, work).status_code == 405


CHUNK = 64 * 1024
TOO_LARGE = {"result": "rejected", "reason": "too_large"}


def call_hook(spool_path: Path, headers: list[tuple[bytes, bytes]], chunks: int) -> tuple[int, list[Message]]:
    """Call the app's hook the way an ASGI server would; the body offered is `chunks` chunks of CHUNK bytes.

    Returns how many times the app asked for body (receive calls) and the messages it sent.
    """
    reads = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": reads < chunks}

    async def send(message: Message) -> None:
        sent.append(message)

    async def work(client: httpx.AsyncClient, relay: Relay) -> None:
        scope = {"type": "http", "method": "POST", "path": "/hooks/sentry", "headers": headers}
        await build_app(relay)(scope, receive, send)

    with_relay(spool_path, work)
    return reads, sent


def test_a_declared_oversized_body_is_refused_before_a_byte_of_it_is_read(spool_path: Path) -> None:
    headers = [
        (b"content-length", str(1024 * 1024 + 1).encode()),
        (b"sentry-hook-resource", b"error"),
        (b"sentry-hook-signature", b"0" * 64),
    ]

    reads, sent = call_hook(spool_path, headers, chunks=32)

    assert reads == 0
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"]) == TOO_LARGE


def test_an_undeclared_oversized_body_is_read_only_until_it_passes_the_limit(spool_path: Path) -> None:
    headers = [(b"sentry-hook-resource", b"error"), (b"sentry-hook-signature", b"0" * 64)]  # chunked: no length

    reads, sent = call_hook(spool_path, headers, chunks=32)  # 2 MiB offered

    assert reads == 1024 * 1024 // CHUNK + 1  # 1 MiB, then the chunk that passes it; not the rest
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"]) == TOO_LARGE


def test_health_and_readiness(spool_path: Path) -> None:
    async def work(client: httpx.AsyncClient, relay: Relay) -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        await relay.forwarder.stop(0.1)  # a relay whose forwarder died is alive but not ready
        return health, ready, await client.get("/readyz")

    health, ready, not_ready = with_relay(spool_path, work)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"ready": True, "problems": []})
    assert (not_ready.status_code, not_ready.json()) == (
        503,
        {"ready": False, "problems": ["the forwarder is not running"]},
    )


def test_metrics_in_prometheus_text_format(spool_path: Path) -> None:
    sender = FakeSender()

    async def work(client: httpx.AsyncClient, relay: Relay) -> httpx.Response:
        await post(client, error_created("a" * 32))
        await post(client, error_created("a" * 32))
        await post(client, error_created("b" * 32, environment="qa"))
        await post(client, error_created("c" * 32, drop_context=True))
        await post(client, {"action": "created", "data": {}}, resource="issue")
        await client.post("/hooks/sentry", content=b"{}", headers={"Sentry-Hook-Signature": "00"})
        await until(lambda: relay.metrics.forwarded_events == 1)  # sent, and marked delivered
        return await client.get("/metrics")

    response = with_relay(spool_path, work, sender=sender)
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.text
    for line in (
        'ldsentry_relay_webhooks_received_total{resource="error"} 4',
        'ldsentry_relay_webhooks_received_total{resource="issue"} 1',
        "ldsentry_relay_events_accepted_total 1",
        "ldsentry_relay_events_duplicate_total 1",
        'ldsentry_relay_webhooks_rejected_total{reason="unmapped"} 1',
        'ldsentry_relay_webhooks_rejected_total{reason="missing_context"} 1',
        'ldsentry_relay_webhooks_rejected_total{reason="bad_signature"} 1',
        "ldsentry_relay_events_forwarded_total 1",
        "ldsentry_relay_batches_forwarded_total 1",
        'ldsentry_relay_batches_retried_total{reason="rate_limited"} 0',
        "ldsentry_relay_events_dead_lettered_total 0",
        'ldsentry_relay_queue_depth{destination="default/production"} 0',
        "ldsentry_relay_oldest_queued_age_seconds 0.0",
        'ldsentry_relay_ack_latency_seconds_bucket{le="+Inf"} 6',
        "ldsentry_relay_ack_latency_seconds_count 6",
        'ldsentry_relay_forward_lag_seconds_bucket{le="+Inf"} 1',
        "ldsentry_relay_ready 1",
        "# TYPE ldsentry_relay_ack_latency_seconds histogram",
        "# TYPE ldsentry_relay_queue_depth gauge",
        "# TYPE ldsentry_relay_events_accepted_total counter",
    ):
        assert line in text.splitlines(), line
    # Every sample line is `name{labels} value` with a known prefix.
    for line in text.splitlines():
        assert line.startswith("# ") or re.match(r'^ldsentry_relay_[a-z_]+(\{[a-z]+="[^"]*"\})? [0-9.e+-]+$', line), (
            line
        )


def test_histogram_buckets_are_cumulative() -> None:
    histogram = Histogram((0.01, 0.1, 1.0))
    for seconds in (0.005, 0.01, 0.05, 0.5, 3.0):
        histogram.observe(seconds)
    assert histogram.lines("x") == [
        'x_bucket{le="0.01"} 2',
        'x_bucket{le="0.1"} 3',
        'x_bucket{le="1.0"} 4',
        'x_bucket{le="+Inf"} 5',
        "x_sum 3.565",
        "x_count 5",
    ]


def test_parked_events_are_forwarded_once_sentry_answers(spool_path: Path) -> None:
    projects = FakeProjects(fail=True)
    sender = FakeSender()

    async def work(client: httpx.AsyncClient, relay: Relay) -> tuple[httpx.Response, httpx.Response]:
        parked = await post(client, error_created("d" * 32, url=None))  # no url: only the id says which project
        unmapped = await post(client, error_created("e" * 32, project=UNMAPPED_ID, url=None))
        assert relay.metrics.parked == 2
        projects.fail = False
        relay.resolver._tried_at = None  # the refresh interval has passed
        await until(lambda: len(sender.attempts) == 1)
        return parked, unmapped

    parked, _ = with_relay(spool_path, work, projects=projects, sender=sender)
    assert parked.status_code == 202
    [(destination, _, events)] = sender.attempts
    assert destination == Destination("default", "production") and len(events) == 1
    spool = SqliteSpool(spool_path)
    assert spool.stats().unresolved == 0 and spool.seen(["e" * 32]) == {"e" * 32}
    spool.close()


def test_logs_hold_no_secret_and_no_context_data(spool_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sender = FakeSender()

    async def work(client: httpx.AsyncClient, relay: Relay) -> None:
        await post(client, error_created("a" * 32))
        await post(client, error_created("b" * 32, project=WEB_ID, drop_context=True))
        await until(lambda: len(sender.attempts) == 1)

    with_relay(spool_path, work, sender=sender)
    for value in (SECRET, *ATTRIBUTE_VALUES, "user-123", "org-42"):
        assert value not in caplog.text
    assert "a" * 32 in caplog.text


def test_the_log_sums_up_what_happened(spool_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ldsentry.relay")
    sender = FakeSender()

    async def work(client: httpx.AsyncClient, relay: Relay) -> None:
        await post(client, error_created("a" * 32))
        await post(client, error_created("a" * 32))
        await post(client, error_created("b" * 32, environment="qa"))
        await until(lambda: relay.metrics.forwarded_events == 1)
        await until(lambda: relay.metrics.forwarded_events == 1 and "1 forwarded" in caplog.text)

    with_relay(spool_path, work, sender=sender, summary_interval=0.0)
    pattern = (
        r"last \d+ s: (\d+) webhooks, (\d+) events accepted, (\d+) duplicates, (\d+) not forwarded, "
        r"(\d+) forwarded, (\d+) batch retries, (\d+) dead-lettered"
    )
    lines = [tuple(int(n) for n in found) for found in re.findall(pattern, caplog.text)]
    assert lines and tuple(map(sum, zip(*lines, strict=True))) == (3, 1, 1, 1, 1, 0, 0)


def test_a_spool_deleted_under_the_relay_makes_it_unready_and_webhooks_503(spool_path: Path) -> None:
    # Issue 13 §3.4: /readyz stayed 200 and webhooks got 202, then were lost with the deleted file.
    async def work(client: httpx.AsyncClient, relay: Relay) -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        accepted = await post(client, error_created("a" * 32))
        spool_path.unlink()
        return accepted, await client.get("/readyz"), await post(client, error_created("b" * 32))

    accepted, ready, refused = with_relay(spool_path, work)
    assert accepted.status_code == 202
    assert (ready.status_code, ready.json()) == (
        503,
        {"ready": False, "problems": [f"the spool file {spool_path} was deleted while the relay ran"]},
    )
    assert (refused.status_code, refused.json()) == (503, {"result": "rejected", "reason": "spool_error"})
