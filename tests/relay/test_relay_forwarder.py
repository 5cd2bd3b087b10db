"""The forwarder: batches per destination, stable payload ids, backoff, order, dead letters, shutdown flush."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from relay_helpers import LD_TOKEN, PROD, SCENARIO, STAGING, FakeSender, ok, refused, transient

from ld_sentry_cli import __version__
from ld_sentry_cli.http import SessionOptions
from ld_sentry_cli.relay.forwarder import (
    Backoff,
    Forwarder,
    ForwarderSettings,
    LaunchDarklyImporter,
    SendResult,
    is_transient,
)
from ld_sentry_cli.relay.metrics import RelayMetrics
from ld_sentry_cli.relay.model import Destination, SpoolEntry, metric_event
from ld_sentry_cli.relay.spool_sqlite import SqliteSpool
from ld_sentry_cli.relay.worker import SpoolWorker
from ld_sentry_cli.sandbox import FaultPlan, FaultRule, build_app

T = TypeVar("T")
FAST = ForwarderSettings(
    batch_size=100, flush_interval=0.05, poll_interval=0.01, min_replan=0.0, backoff=Backoff(0.01, 0.05)
)


def entry(n: int, destination: Destination = PROD) -> SpoolEntry:
    return SpoolEntry(
        f"{n:032x}", metric_event("sentry-errors", 1_787_173_117_000, {"user": f"u{n}"}), 0.0, destination
    )


def run_forwarder(
    spool_path: Path,
    entries: list[SpoolEntry],
    sender: Any,
    until: Callable[[Any], bool],
    settings: ForwarderSettings = FAST,
    timeout: float = 10.0,
) -> tuple[RelayMetrics, SqliteSpool]:
    """Spool entries, run a forwarder until `until(sender)` holds (bounded), stop it, return metrics and spool."""
    spool = SqliteSpool(spool_path)
    spool.add(entries)
    metrics = RelayMetrics()

    async def run() -> None:
        worker = SpoolWorker(spool)
        worker.start()
        forwarder = Forwarder(worker, sender, metrics, settings, random_fn=lambda: 0.5)
        forwarder.start()
        deadline = asyncio.get_running_loop().time() + timeout
        while not until(sender) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await forwarder.stop(1.0)
        await worker.call(lambda: None)  # let the last spool write land

    asyncio.run(run())
    return metrics, spool


def test_events_go_out_in_batches_in_order(spool_path: Path) -> None:
    sender = FakeSender()
    metrics, spool = run_forwarder(
        spool_path, [entry(n) for n in range(250)], sender, lambda s: sum(len(a[2]) for a in s.attempts) >= 250
    )
    sizes = [len(events) for _, _, events in sender.attempts]
    assert sizes == [100, 100, 50]
    sent = [event["contextKeys"]["user"] for _, _, events in sender.attempts for event in events]
    assert sent == [f"u{n}" for n in range(250)]
    payload_ids = [payload_id for _, payload_id, _ in sender.attempts]
    assert len(set(payload_ids)) == 3 and all(uuid.UUID(p).version == 4 for p in payload_ids)
    assert (metrics.forwarded_events, metrics.forwarded_batches) == (250, 3)
    stats = spool.stats()
    assert (stats.queued, stats.delivered) == (0, 250)
    spool.close()


def test_a_retried_batch_keeps_its_payload_id_and_nothing_overtakes_it(spool_path: Path) -> None:
    sender = FakeSender([transient(503), transient(None), transient(429, retry_after=0.02), ok()])
    metrics, spool = run_forwarder(spool_path, [entry(n) for n in range(150)], sender, lambda s: len(s.attempts) >= 5)
    payload_ids = [payload_id for _, payload_id, _ in sender.attempts]
    assert payload_ids[:4] == [payload_ids[0]] * 4  # the same payload, four times
    assert payload_ids[4] != payload_ids[0]
    assert [len(e) for _, _, e in sender.attempts] == [100, 100, 100, 100, 50]
    assert dict(metrics.retried) == {"server_error": 1, "network": 1, "rate_limited": 1}
    assert spool.stats().delivered == 150
    spool.close()


def test_a_refused_batch_is_dead_lettered_and_the_relay_goes_on(spool_path: Path) -> None:
    sender = FakeSender([refused(400)])
    metrics, spool = run_forwarder(spool_path, [entry(n) for n in range(150)], sender, lambda s: len(s.attempts) >= 2)
    assert [len(e) for _, _, e in sender.attempts] == [100, 50]
    assert (metrics.dead_lettered_batches, metrics.dead_lettered_events, metrics.forwarded_events) == (1, 100, 50)
    letters = spool.dead_letters()
    assert [(d.events, d.status, d.response) for d in letters] == [
        (100, 400, "LaunchDarkly refused the request (HTTP 400)")
    ]
    assert letters[0].batch_id == sender.attempts[0][1]
    spool.close()


def test_a_rate_limited_destination_does_not_hold_up_another(spool_path: Path) -> None:
    class Sender(FakeSender):
        async def send(self, destination: Destination, payload_id: str, payloads: Any) -> SendResult:
            await super().send(destination, payload_id, payloads)
            return transient(429, retry_after=30.0) if destination == PROD else ok()

    sender = Sender()
    entries = [entry(n, PROD if n % 2 else STAGING) for n in range(20)]
    patient = ForwarderSettings(
        batch_size=100, flush_interval=0.05, poll_interval=0.01, min_replan=0.0, backoff=Backoff(0.01, 60.0)
    )
    metrics, spool = run_forwarder(
        spool_path, entries, sender, lambda s: any(d == STAGING for d, _, _ in s.attempts), patient
    )
    assert metrics.forwarded_events == 10
    by = {d.destination: d for d in spool.stats().destinations}
    assert (by[PROD].queued, by[PROD].attempts, by[STAGING].delivered) == (10, 1, 10)
    assert by[PROD].next_attempt_at is not None
    spool.close()


def test_stop_flushes_partial_batches(spool_path: Path) -> None:
    sender = FakeSender()
    slow = ForwarderSettings(batch_size=100, flush_interval=60.0, poll_interval=0.01, min_replan=0.0)
    _, spool = run_forwarder(spool_path, [entry(n) for n in range(7)], sender, lambda s: False, slow, 0.1)
    assert [len(e) for _, _, e in sender.attempts] == [7]  # sent by the shutdown flush, not the interval
    assert spool.stats().queued == 0
    spool.close()


def test_stop_gives_up_after_its_timeout_and_the_batch_stays_spooled(spool_path: Path) -> None:
    class Hanging(FakeSender):
        async def send(self, destination: Destination, payload_id: str, payloads: Any) -> SendResult:
            await super().send(destination, payload_id, payloads)
            await asyncio.sleep(3600)
            return ok()

    sender = Hanging()
    _, spool = run_forwarder(spool_path, [entry(n) for n in range(3)], sender, lambda s: len(s.attempts) == 1)
    stats = spool.stats()
    assert (stats.queued, stats.delivered) == (3, 0)
    batch = spool.claim(PROD, time.time() + 1, 100, 1.0)
    assert batch is not None and batch.batch_id == sender.attempts[0][1]  # resent with the same payload id
    spool.close()


def test_an_unexpected_error_in_the_sender_is_retried_not_lost(spool_path: Path) -> None:
    class Broken(FakeSender):
        async def send(self, destination: Destination, payload_id: str, payloads: Any) -> SendResult:
            await super().send(destination, payload_id, payloads)
            if len(self.attempts) == 1:
                raise RuntimeError("bug")
            return ok()

    metrics, spool = run_forwarder(spool_path, [entry(1)], Broken(), lambda s: len(s.attempts) >= 2)
    assert metrics.forwarded_events == 1 and spool.stats().delivered == 1
    spool.close()


@pytest.mark.parametrize(
    ("attempts", "retry_after", "rand", "expected"),
    [
        (1, None, 0.0, 0.25),
        (1, None, 1.0, 0.5),
        (2, None, 0.0, 0.5),
        (3, None, 0.5, 1.5),
        (20, None, 0.0, 30.0),  # capped at 60, equal jitter: 30..60
        (20, None, 1.0, 60.0),
        (1, 2.5, 0.0, 2.5),  # the server's wait wins
        (1, 2.5, 1.0, 3.0),
        (1, 500.0, 0.0, 60.0),  # but never beyond the cap
        (1, -3.0, 0.0, 0.0),
    ],
)
def test_backoff(attempts: int, retry_after: float | None, rand: float, expected: float) -> None:
    assert Backoff(base=0.5, cap=60.0).delay(attempts, retry_after, rand) == pytest.approx(expected)


def test_transient_statuses() -> None:
    assert [s for s in (200, 400, 401, 403, 404, 408, 413, 429, 500, 501, 502, 503, 504) if is_transient(s)] == [
        408,
        429,
        500,
        502,
        503,
        504,
    ]


def sandbox_importer(
    faults: FaultPlan | None = None, token: str = LD_TOKEN, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[Any, LaunchDarklyImporter]:
    sandbox = build_app(SCENARIO, faults=faults)
    options = SessionOptions(transport=transport or httpx.ASGITransport(app=sandbox), timeout=5.0)
    return sandbox, LaunchDarklyImporter("http://127.0.0.1:9", token, options=options)


def run(make: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(make())  # type: ignore[arg-type]


PAYLOADS = [metric_event("sentry-errors", 1_787_173_117_391, {"user": "user-123", "organization": "org-42"})]


def test_the_importer_speaks_the_metric_import_api() -> None:
    sandbox, importer = sandbox_importer()
    payload_id = str(uuid.uuid4())

    async def go() -> SendResult:
        try:
            return await importer.send(PROD, payload_id, PAYLOADS)
        finally:
            await importer.aclose()

    assert run(go) == SendResult(ok=True, status=202)
    [imported] = sandbox.imported_events()
    assert (imported.project_key, imported.environment_key, imported.payload_id) == (
        "default",
        "production",
        payload_id,
    )
    assert imported.event == {
        "kind": "custom",
        "key": "sentry-errors",
        "creationDate": 1_787_173_117_391,
        "contextKeys": {"user": "user-123", "organization": "org-42"},
    }
    [request] = sandbox.requests(path_prefix="/v2/event-data-import/")
    assert request.user_agent == f"MetricImport-ldsentry-int/{__version__}"


def test_the_importer_sends_the_required_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    _, importer = sandbox_importer(transport=httpx.MockTransport(handler))
    run(lambda: importer.send(Destination("my project", "prod/eu"), "0b0e0f0a-0000-4000-8000-000000000000", PAYLOADS))
    [request] = seen
    assert request.url.raw_path == b"/v2/event-data-import/my%20project/prod%2Feu"
    assert request.headers["Authorization"] == LD_TOKEN  # raw, no "Bearer"
    assert request.headers["X-LaunchDarkly-Event-Schema"] == "4"
    assert request.headers["X-LaunchDarkly-Payload-ID"] == "0b0e0f0a-0000-4000-8000-000000000000"
    assert request.headers["User-Agent"] == f"MetricImport-ldsentry-int/{__version__}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.content == ("[" + PAYLOADS[0] + "]").encode()


def test_a_rate_limited_import_is_transient_with_the_servers_wait() -> None:
    _, importer = sandbox_importer(FaultPlan(default=FaultRule(rate_limited=1.0, reset_ms=3000)))
    result = run(lambda: importer.send(PROD, str(uuid.uuid4()), PAYLOADS))
    assert (result.ok, result.transient, result.status, result.retry_reason) == (False, True, 429, "rate_limited")
    assert result.retry_after is not None and 1.5 < result.retry_after <= 3.5


def test_a_server_error_is_transient() -> None:
    _, importer = sandbox_importer(FaultPlan(default=FaultRule(server_errors=1.0)))
    result = run(lambda: importer.send(PROD, str(uuid.uuid4()), PAYLOADS))
    assert result.transient and result.status in (500, 502, 503, 504) and result.retry_reason == "server_error"


def test_a_network_error_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    _, importer = sandbox_importer(transport=httpx.MockTransport(refuse))
    result = run(lambda: importer.send(PROD, str(uuid.uuid4()), PAYLOADS))
    assert (result.ok, result.transient, result.status, result.retry_reason) == (False, True, None, "network")
    assert result.message.startswith("Could not reach LaunchDarkly at 127.0.0.1:9 after 1 attempt")


@pytest.mark.parametrize(
    ("token", "destination", "status"),
    [("ld-reader", PROD, 403), ("nope", PROD, 401), (LD_TOKEN, Destination("default", "qa"), 404)],
)
def test_refusals_are_permanent(token: str, destination: Destination, status: int) -> None:
    _, importer = sandbox_importer(token=token)
    result = run(lambda: importer.send(destination, str(uuid.uuid4()), PAYLOADS))
    assert (result.ok, result.transient, result.status) == (False, False, status)
    assert token not in result.message  # the HTTP layer redacts what a server echoes


def test_a_2xx_with_an_unexpected_body_is_delivered() -> None:
    _, importer = sandbox_importer(transport=httpx.MockTransport(lambda r: httpx.Response(200, text="accepted")))
    assert run(lambda: importer.send(PROD, str(uuid.uuid4()), PAYLOADS)).ok


def test_spool_errors_back_off_instead_of_looping(spool_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Issue 13 §3.4: a broken spool made the forwarder retry (and log) about 100 times a second.
    spool = SqliteSpool(spool_path)
    spool.add([entry(1)])
    claims = 0

    def broken_claim(*args: object) -> None:
        nonlocal claims
        claims += 1
        raise sqlite3.DatabaseError("database disk image is malformed")

    spool.claim = broken_claim  # type: ignore[method-assign]
    settings = ForwarderSettings(batch_size=1, poll_interval=0.01, min_replan=0.02, spool_backoff=Backoff(0.1, 0.2))

    async def run() -> None:
        worker = SpoolWorker(spool)
        worker.start()
        forwarder = Forwarder(worker, FakeSender(), RelayMetrics(), settings, random_fn=lambda: 0.0)
        forwarder.start()
        await asyncio.sleep(0.5)
        await forwarder.stop(0.1)
        await worker.stop()

    asyncio.run(run())
    # Pauses of 0.05 s, then 0.1 s (equal jitter at 0): a handful of tries in 0.5 s, not one per replan (25).
    assert 2 <= claims <= 8, claims
    assert caplog.text.count("forwarding to default/production failed: database disk image is malformed") == claims
