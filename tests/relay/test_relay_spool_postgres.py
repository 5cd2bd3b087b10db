"""The shared PostgreSQL spool against a real server: verdicts, leases, take-over, schema, commands."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path

import pytest
from postgres_support import PostgresServer
from relay_helpers import (
    CONFIG,
    PROD,
    SECRET,
    SENTRY_TOKEN,
    STAGING,
    FakeSender,
    body_of,
    config_text,
    error_created,
    ids,
    invoke,
    require_psycopg,
    scenario,
    sign,
    spool_entry,
)
from typer.testing import CliRunner

from ld_sentry_cli.relay.model import SpoolEntry
from ld_sentry_cli.relay.service import Relay, RelayOptions
from ld_sentry_cli.relay.spool import SpoolError
from ld_sentry_cli.sandbox import build_app, serve_in_thread

psycopg = require_psycopg()
from ld_sentry_cli.relay.spool_postgres import SCHEMA_VERSION, PostgresSpool  # noqa: E402 (needs psycopg)

LD_USER = {"kind": "user", "key": "u1"}


def signed(document: object) -> tuple[str, bytes]:
    body = body_of(document)
    return sign(body), body


def test_two_replicas_get_exact_verdicts_for_groups_mixing_new_and_known_ids(postgres_url: str) -> None:
    first, second = PostgresSpool(postgres_url), PostgresSpool(postgres_url)
    try:
        assert first.add([spool_entry(1), spool_entry(2)]) == [True, True]
        # A Sentry retry of 2 lands on the other replica, in a group with new ids around it.
        assert second.add([spool_entry(n) for n in (3, 2, 4, 4, 1, 5)]) == [
            True,
            False,
            True,
            False,
            False,
            True,
        ]
        assert first.seen([f"{n:032x}" for n in range(7)]) == {f"{n:032x}" for n in range(1, 6)}
    finally:
        first.close()
        second.close()


def test_replicas_starting_together_create_the_schema_once(postgres_url: str) -> None:
    spools: list[PostgresSpool] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            spools.append(PostgresSpool(postgres_url))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for spool in spools:
        spool.close()
    assert errors == [] and len(spools) == 4
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM ldsentry_relay_schema").fetchall() == [(SCHEMA_VERSION,)]


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    PostgresSpool(postgres_url).close()
    with psycopg.connect(postgres_url) as conn:
        conn.execute("UPDATE ldsentry_relay_schema SET version = 99")
    with pytest.raises(SpoolError) as caught:
        PostgresSpool(postgres_url)
    assert caught.value.message == (
        f"The PostgreSQL spool {postgres_url} has schema version 99, newer than this ldsentry understands."
    )


def test_an_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(SpoolError) as caught:
        PostgresSpool("postgresql://postgres@127.0.0.1:9/nothing", connect_timeout=1)
    assert caught.value.message.startswith(
        "Cannot use the PostgreSQL spool postgresql://postgres@127.0.0.1:9/nothing: "
    )


def test_one_replica_at_a_time_sends_a_destination_and_a_dead_ones_batch_is_taken_over_with_its_id(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = PostgresSpool(postgres_url, lease=30.0), PostgresSpool(postgres_url, lease=30.0)
    try:
        first.add([spool_entry(n) for n in range(5)])
        batch = first.claim(PROD, 200.0, 3, 1.0)
        assert batch is not None and ids(batch.events) == [0, 1, 2]
        # While the lease runs, the other replica neither resends it nor starts the next batch (order).
        assert second.claim(PROD, 210.0, 3, 1.0, flush_all=True) is None
        plan = second.due(210.0, 3, 1.0)
        assert (plan.ready, plan.next_due_at) == ((), 230.0)
        # The first replica dies holding the lease; once it expires the other sends the same batch.
        caplog.set_level(logging.WARNING, logger="ldsentry.relay")
        assert second.due(230.0, 3, 1.0).ready == (PROD,)
        again = second.claim(PROD, 230.0, 3, 1.0)
        assert again is not None and (again.batch_id, ids(again.events)) == (batch.batch_id, [0, 1, 2])
        assert f"took over batch {batch.batch_id} (3 events to default/production)" in caplog.text
        assert second.delivered(again.batch_id, 231.0) == 3
        assert first.delivered(batch.batch_id, 232.0) == 0  # the late answer of the dead one changes nothing
        following = first.claim(PROD, 240.0, 3, 1.0, flush_all=True)
        assert following is not None and ids(following.events) == [3, 4] and following.batch_id != batch.batch_id
        assert first.stats().delivered == 3
    finally:
        first.close()
        second.close()


def test_a_failed_attempt_releases_the_lease_and_any_replica_retries_the_same_batch(postgres_url: str) -> None:
    first, second = PostgresSpool(postgres_url), PostgresSpool(postgres_url)
    try:
        first.add([spool_entry(n) for n in range(3)])
        batch = first.claim(PROD, 200.0, 3, 1.0)
        assert batch is not None
        first.retry_later(batch.batch_id, 1, 205.0, "HTTP 503")
        assert second.claim(PROD, 204.0, 3, 1.0) is None  # not before its time
        retry = second.claim(PROD, 205.0, 3, 1.0)
        assert retry is not None and (retry.batch_id, retry.attempts) == (batch.batch_id, 1)
        assert ids(retry.events) == [0, 1, 2]
        stats = first.stats().destinations[0]
        assert (stats.queued, stats.attempts, stats.next_attempt_at, stats.last_error) == (3, 1, 205.0, "HTTP 503")
        assert second.dead_letter(retry.batch_id, 400, "bad", 206.0) == 3
        assert [(d.batch_id, d.events, d.status) for d in first.dead_letters()] == [(batch.batch_id, 3, 400)]
        assert first.requeue_dead_letters() == 3
        requeued = second.claim(PROD, 207.0, 3, 1.0)
        assert requeued is not None and ids(requeued.events) == [0, 1, 2] and requeued.batch_id != batch.batch_id
    finally:
        first.close()
        second.close()


def test_parked_events_resolve_and_pruning_goes_in_chunks(postgres_url: str) -> None:
    spool = PostgresSpool(postgres_url)
    try:
        parked = SpoolEntry("f" * 32, "{}", 100.0, None, "4505278496", "production")
        spool.add([parked, spool_entry(1), spool_entry(2), spool_entry(3)])
        assert [p.event_id for p in spool.parked(10)] == ["f" * 32]
        spool.resolve({"f" * 32: STAGING}, 101.0)
        assert spool.parked(10) == [] and spool.stats().unresolved == 0
        batch = spool.claim(PROD, 200.0, 10, 1.0, flush_all=True)
        assert batch is not None
        spool.delivered(batch.batch_id, 300.0)
        assert (spool.prune(400.0, 2), spool.prune(400.0, 2), spool.prune(400.0, 2)) == (2, 1, 0)
        assert spool.seen(["f" * 32]) == {"f" * 32}  # still queued, never pruned
        spool.check_writable()
    finally:
        spool.close()


def test_status_and_retry_dead_letters_work_on_the_shared_spool(runner: CliRunner, postgres_url: str) -> None:
    spool = PostgresSpool(postgres_url)
    spool.add([spool_entry(1), spool_entry(2)])
    batch = spool.claim(PROD, 200.0, 2, 1.0)
    assert batch is not None
    spool.dead_letter(batch.batch_id, 403, "LaunchDarkly refused the request (HTTP 403)", 201.0)
    spool.close()
    code, out, err = invoke(runner, "relay", "status", "--spool", postgres_url, "--output", "json")
    assert code == 1, err
    document = json.loads(out)
    assert (document["spool"], document["dead_lettered"], document["queued"]) == (postgres_url, 2, 0)
    code, out, err = invoke(runner, "relay", "retry-dead-letters", "--spool", postgres_url)
    assert (code, out) == (0, f"Re-queued 2 dead-lettered events in {postgres_url}.\n"), err


def test_status_of_a_database_without_a_spool_exits_2(runner: CliRunner, postgres_url: str) -> None:
    code, out, err = invoke(runner, "relay", "status", "--spool", postgres_url)
    assert code == 2 and out == ""
    assert err.splitlines()[0] == f"error: No ldsentry relay spool in {postgres_url}."


def test_backfill_spools_into_the_shared_spool_once(
    runner: CliRunner, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [
        {"age": "10m", "environment": "production", "id": "1" * 32, "contexts": {"launchdarklyContext": LD_USER}},
        {"age": "20m", "environment": "production", "id": "2" * 32, "contexts": {"launchdarklyContext": LD_USER}},
    ]
    world = scenario()
    world["sentry"]["projects"][0]["events"] = events
    monkeypatch.setenv("SENTRY_AUTH_TOKEN", SENTRY_TOKEN)
    monkeypatch.chdir(tmp_path)
    with serve_in_thread(build_app(world)) as server:
        (tmp_path / "ldsentry.toml").write_text(config_text(server.url))
        first = invoke(runner, "relay", "backfill", "--spool", postgres_url, "--output", "json")
        again = invoke(runner, "relay", "backfill", "--spool", postgres_url, "--output", "json")
    assert first[0] == 0 and again[0] == 0, first[2] + again[2]

    def web(out: str) -> tuple[int, int]:
        rows = {(r["sentry_project"], r["sentry_environment"]): r for r in json.loads(out)["mappings"]}
        row = rows[("web-frontend", "production")]
        return row["already_seen"], row["enqueued"]

    assert (web(first[1]), web(again[1])) == ((0, 2), (2, 0))
    spool = PostgresSpool(postgres_url)
    try:
        assert spool.seen(["1" * 32, "2" * 32, "3" * 32]) == {"1" * 32, "2" * 32}
    finally:
        spool.close()


def test_a_relay_whose_database_is_down_is_unready_and_answers_503(own_postgres: PostgresServer) -> None:
    url = own_postgres.create_database("outage")
    relay = Relay(
        CONFIG,
        PostgresSpool(url, connect_timeout=1),
        secrets=[SECRET.encode()],
        sender=FakeSender(),
        projects=None,
        options=RelayOptions(shutdown_timeout=0.5),
    )

    async def run() -> tuple[int, list[str], int, int, list[str]]:
        await relay.start()
        try:
            accepted = await relay.intake.handle("error", *signed(error_created("a" * 32)))
            ready = await relay.readiness()
            own_postgres.stop()
            refused = await relay.intake.handle("error", *signed(error_created("b" * 32)))
            return (
                accepted.status,
                ready,
                refused.status,
                relay.metrics.rejected["spool_error"],
                await relay.readiness(),
            )
        finally:
            await relay.stop()

    accepted, ready, refused, errors, not_ready = asyncio.run(run())
    assert (accepted, ready, refused, errors) == (202, [], 503, 1)
    # Either the pool gave up on reconnecting within the probe's second, or the probe's second ran out first.
    assert len(not_ready) == 1, not_ready
    assert not_ready[0].startswith("the PostgreSQL spool cannot be written: ") or not_ready[0] == (
        "the spool did not answer within 1 s"
    )
