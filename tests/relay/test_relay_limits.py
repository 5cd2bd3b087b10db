"""Issue 13 §3, found by attacking the intake: deep JSON, absurd times, bad text, replays, huge keys, counters."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from relay_helpers import (
    EVENT_ID,
    NOW,
    FakeProjects,
    MemoryStore,
    body_of,
    deliver,
    error_created,
    hook_headers,
    make_intake,
    sign,
    with_started_relay,
)

from ld_sentry_cli.relay.app import build_app
from ld_sentry_cli.relay.intake import (
    MAX_CLOCK_AHEAD_S,
    REPLAY_WINDOW_S,
    Outcome,
    skip_reason,
    usable_context_keys,
)
from ld_sentry_cli.relay.metrics import RelayMetrics
from ld_sentry_cli.relay.service import Relay, RelayOptions
from ld_sentry_cli.relay.spool import SEEN_RETENTION_S
from ld_sentry_cli.relay.spool_sqlite import SqliteSpool
from ld_sentry_cli.relay.worker import SpoolWorker

T = TypeVar("T")


def event_at(seconds: Any, event_id: str = EVENT_ID, **changes: Any) -> dict[str, Any]:
    """An error.created whose `timestamp` is exactly seconds (and no `datetime` to fall back on)."""
    document = error_created(event_id, at=NOW, **changes)
    document["data"]["error"]["timestamp"] = seconds
    del document["data"]["error"]["datetime"]
    return document


def with_app(spool_path: Path, work: Callable[[httpx.AsyncClient, Relay], Awaitable[T]], **fakes: Any) -> T:
    """Run work against a started relay (no housekeeping meanwhile) behind an in-process HTTP client."""
    options = RelayOptions(shutdown_timeout=1.0, housekeeping_interval=3600.0)
    return with_started_relay(spool_path, work, options=options, **fakes)


# §3.6: a signed body nested 975 levels deep, or `timestamp: 1e306`, was an unhandled 500.


def nested_body(levels: int) -> bytes:
    document = error_created(EVENT_ID)
    text = body_of(document).decode()
    return text.replace('"extra": {', '"extra": {"deep": ' + "[" * levels + "]" * levels + ", ", 1).encode()


@pytest.mark.skipif(
    sys.version_info >= (3, 12),
    reason="from Python 3.12 C recursion has its own, higher limit: 975 levels decode (no 500 either); "
    "the 100,000-level test below covers the limit",
)
def test_a_body_nested_975_levels_deep_is_400_over_http(spool_path: Path) -> None:
    body = nested_body(975)

    async def work(client: httpx.AsyncClient, relay: Relay) -> httpx.Response:
        return await client.post("/hooks/sentry", content=body, headers=hook_headers(body))

    response = with_app(spool_path, work)
    assert (response.status_code, response.json()) == (
        400,
        {"result": "rejected", "reason": "invalid_payload", "detail": "the JSON is nested too deeply"},
    )


def test_a_body_nested_beyond_any_stack_is_400_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ldsentry.relay")
    intake = make_intake()
    outcome = deliver(intake, nested_body(100_000))
    assert outcome == Outcome(400, "rejected", "invalid_payload")
    assert (
        outcome.body() == b'{"result":"rejected","reason":"invalid_payload","detail":"the JSON is nested too deeply"}'
    )
    assert intake._metrics.rejected == {"invalid_payload": 1} and intake._metrics.received == {"error": 1}
    assert "rejected a error webhook: the JSON is nested too deeply" in caplog.text


@pytest.mark.parametrize("seconds", [1e306, 1e23, -1e306, -(10**400), 10**400, float("nan"), float("inf")])
def test_a_timestamp_that_is_not_a_time_is_400(seconds: Any) -> None:
    store = MemoryStore()
    outcome = deliver(make_intake(store), event_at(seconds))
    assert (outcome.status, outcome.reason, outcome.detail) == (
        400,
        "invalid_payload",
        "data.error.timestamp is not a time in seconds since 1970",
    )
    assert store.entries == {}


# §3.11: creationDate forwarded unchecked (1e23); context keys unbounded (a 900 KB key).


@pytest.mark.parametrize(("ahead", "status"), [(MAX_CLOCK_AHEAD_S - 1, 202), (MAX_CLOCK_AHEAD_S + 1, 400), (1e10, 400)])
def test_an_event_time_more_than_an_hour_ahead_is_400(ahead: float, status: int) -> None:
    store = MemoryStore()
    outcome = deliver(make_intake(store), event_at(NOW + ahead))
    assert outcome.status == status
    if status == 400:
        assert (outcome.reason, outcome.detail) == (
            "invalid_payload",
            "the event's time is more than an hour ahead of the relay's clock",
        )
        assert store.entries == {}
    else:
        assert json.loads(store.entries[EVENT_ID].payload)["creationDate"] == int((NOW + ahead) * 1000)


@pytest.mark.parametrize(
    ("context", "status"),
    [
        ({"kind": "user", "key": "k" * 256}, 202),
        ({"kind": "user", "key": "é" * 128}, 202),  # 256 bytes in UTF-8
        ({"kind": "user", "key": "k" * 257}, 200),
        ({"kind": "user", "key": "é" * 129}, 200),
        ({"kind": "user", "key": "k" * 900_000}, 200),
        ({"kind": "k" * 64, "key": "u"}, 202),
        ({"kind": "k" * 65, "key": "u"}, 200),
        ({"kind": "multi", **{f"kind{n}": {"key": "u"} for n in range(10)}}, 202),
        ({"kind": "multi", **{f"kind{n}": {"key": "u"} for n in range(11)}}, 200),
    ],
)
def test_context_keys_launchdarkly_may_refuse_are_acknowledged_not_forwarded(
    context: dict[str, Any], status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ldsentry.relay")
    store = MemoryStore()
    intake = make_intake(store)
    outcome = deliver(intake, error_created(EVENT_ID, context=context, at=NOW))
    assert outcome.status == status
    if status == 200:
        assert (outcome.result, outcome.reason) == ("skipped", "invalid_context")
        assert store.entries == {} and intake._metrics.rejected == {"invalid_context": 1}
        assert f"event {EVENT_ID} not forwarded: its launchdarklyContext has " in caplog.text
        assert "kkk" not in caplog.text  # the problem is named, the key is not logged
    else:
        assert len(store.entries[EVENT_ID].payload) < 3500


def test_backfill_reads_the_same_bounds() -> None:
    contexts = {"launchdarklyContext": {"kind": "user", "key": "k" * 900_000}}
    assert usable_context_keys(contexts) is None
    assert skip_reason(contexts) == "invalid_context"


# §3.8: one webhook that cannot be stored (a lone surrogate) failed its whole write group.


def test_an_unstorable_webhook_gets_400_and_its_write_group_is_stored(spool_path: Path) -> None:
    bad = body_of(error_created("b" * 32, context={"kind": "user", "key": "\ud800"}, at=NOW))
    good = [body_of(error_created(f"{n:032x}", at=NOW)) for n in range(3)]
    assert b"\\ud800" in bad

    async def run() -> list[Outcome]:
        worker = SpoolWorker(SqliteSpool(spool_path))
        worker.start()
        try:
            intake = make_intake(worker)
            # Delivered together, so that they share one write group (one transaction).
            return list(await asyncio.gather(*(intake.handle("error", sign(b), b) for b in [good[0], bad, *good[1:]])))
        finally:
            await worker.stop()

    outcomes = asyncio.run(run())
    assert [o.status for o in outcomes] == [202, 400, 202, 202]
    assert (outcomes[1].reason, outcomes[1].detail) == (
        "invalid_payload",
        "a launchdarklyContext key is not valid text",
    )
    spool = SqliteSpool(spool_path)
    try:
        assert spool.seen([f"{n:032x}" for n in range(3)] + ["b" * 32]) == {f"{n:032x}" for n in range(3)}
    finally:
        spool.close()


@pytest.mark.parametrize(
    "context",
    [
        {"kind": "user", "key": "\ud800x"},
        {"kind": "user", "key": "a\x00b"},
        {"kind": "multi", "user": {"key": "\udfff"}},
    ],
)
def test_keys_with_a_lone_surrogate_or_nul_are_400(context: dict[str, Any]) -> None:
    store = MemoryStore()
    outcome = deliver(make_intake(store), error_created(EVENT_ID, context=context, at=NOW))
    assert (outcome.status, outcome.detail) == (400, "a launchdarklyContext key is not valid text")
    assert store.entries == {}


def test_an_environment_that_is_not_valid_text_is_400() -> None:
    outcome = deliver(make_intake(), error_created(EVENT_ID, environment="prod\udc80", at=NOW))
    assert (outcome.status, outcome.detail) == (400, "data.error.environment is not valid text")


# §3.9: a captured webhook replayed after the dedupe retention was forwarded again.


@pytest.mark.parametrize(("age", "status"), [(REPLAY_WINDOW_S - 1, 202), (REPLAY_WINDOW_S + 1, 200)])
def test_events_older_than_the_replay_window_are_not_forwarded(age: float, status: int) -> None:
    store = MemoryStore()
    intake = make_intake(store)
    outcome = deliver(intake, event_at(NOW - age))
    assert outcome.status == status
    if status == 200:
        assert outcome == Outcome(200, "skipped", "stale", EVENT_ID)
        assert outcome.body() == f'{{"result":"skipped","reason":"stale","event_id":"{EVENT_ID}"}}'.encode()
        assert store.entries == {} and intake._metrics.rejected == {"stale": 1}


def test_the_replay_window_ends_before_the_spool_forgets_an_event_id() -> None:
    assert REPLAY_WINDOW_S == SEEN_RETENTION_S - 3600


def test_a_replay_after_the_spool_forgot_the_id_is_not_forwarded_again(spool_path: Path) -> None:
    body = body_of(error_created(EVENT_ID, at=NOW))
    clock = [NOW + 1.0]

    async def deliver_at(moment: float) -> Outcome:
        clock[0] = moment
        worker = SpoolWorker(SqliteSpool(spool_path))
        worker.start()
        try:
            intake = make_intake(worker)
            intake._clock = lambda: clock[0]
            outcome = await intake.handle("error", sign(body), body)
            await worker.call(_deliver_all, worker.spool, moment)
            await worker.call(worker.spool.prune, moment + 1)  # as if the retention had passed: forgotten
            return outcome
        finally:
            await worker.stop()

    first = asyncio.run(deliver_at(NOW + 1.0))
    replay = asyncio.run(deliver_at(NOW + SEEN_RETENTION_S + 7200))
    assert (first.status, replay.status, replay.reason) == (202, 200, "stale")


def _deliver_all(spool: SqliteSpool, now: float) -> None:
    for destination in spool.due(now, 100, 0.0, flush_all=True).ready:
        batch = spool.claim(destination, now, 100, 0.0, flush_all=True)
        if batch is not None:
            spool.delivered(batch.batch_id, now)


# §3.12: counters that misled.


def test_a_parked_event_is_counted_once(spool_path: Path) -> None:
    projects = FakeProjects(fail=True)

    async def work(client: httpx.AsyncClient, relay: Relay) -> RelayMetrics:
        # Without its `url`, the event's project slug comes from Sentry's API, which is down: it is parked.
        body = body_of(error_created("d" * 32, url=None))
        assert (await client.post("/hooks/sentry", content=body, headers=hook_headers(body))).status_code == 202
        projects.fail = False
        relay.resolver._tried_at = None  # the refresh interval has passed
        assert await relay.resolve_parked() == 1
        return relay.metrics

    metrics = with_app(spool_path, work, projects=projects)
    assert (metrics.accepted, metrics.parked, dict(metrics.unparked)) == (0, 1, {"queued": 1})
    text = metrics.render(None, NOW, ready=True)
    assert "ldsentry_relay_events_parked_total 1" in text and "ldsentry_relay_events_accepted_total 0" in text
    assert 'ldsentry_relay_events_unparked_total{outcome="queued"} 1' in text


def test_a_client_that_leaves_mid_body_is_counted_as_disconnected(spool_path: Path) -> None:
    body = body_of(error_created(EVENT_ID))

    async def work(client: httpx.AsyncClient, relay: Relay) -> list[dict[str, Any]]:
        messages = [{"type": "http.request", "body": body[:100], "more_body": True}, {"type": "http.disconnect"}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = [(k.lower().encode(), v.encode()) for k, v in hook_headers(body).items()]
        scope = {"type": "http", "method": "POST", "path": "/hooks/sentry", "headers": headers}
        await build_app(relay)(scope, receive, send)
        assert dict(relay.metrics.rejected) == {"disconnected": 1}
        return sent

    sent = with_app(spool_path, work)
    assert sent[0]["status"] == 400


def test_a_bug_is_answered_500_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ldsentry.relay")

    class BrokenRouter:
        async def route(self, project_id: str, environment: str | None, project_slug: str | None = None) -> Any:
            raise ZeroDivisionError("user-123")

    intake = make_intake(router=BrokenRouter())
    outcome = deliver(intake, error_created(EVENT_ID, at=NOW))
    assert outcome == Outcome(500, "rejected", "internal_error")
    assert outcome.body() == b'{"result":"rejected","reason":"internal_error"}'
    assert intake._metrics.rejected == {"internal_error": 1}
    assert "internal error on a error webhook: ZeroDivisionError" in caplog.text
    assert "user-123" not in caplog.text  # an exception's message may hold event data: debug only


def test_the_new_reasons_are_always_in_the_metrics() -> None:
    text = RelayMetrics().render(None, NOW, ready=True)
    for reason in ("disconnected", "internal_error", "stale"):
        assert f'ldsentry_relay_webhooks_rejected_total{{reason="{reason}"}} 0' in text
    for reason in ("cap", "idle_timeout", "read_timeout", "head_too_large"):
        assert f'ldsentry_relay_connections_closed_total{{reason="{reason}"}} 0' in text
