"""The SQLite spool: durability, dedupe, batches with stable ids, retries, dead letters, parking, stats."""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from relay_helpers import ATTRIBUTE_VALUES

from ld_sentry_cli.relay.model import Destination, ParkedEvent, SpoolEntry, metric_event
from ld_sentry_cli.relay.spool import DuePlan, SpoolError, SpoolUnavailable
from ld_sentry_cli.relay.spool_sqlite import SqliteSpool, open_spool_readonly, read_stats
from ld_sentry_cli.relay.worker import SpoolWorker

PROD = Destination("default", "production")
STAGING = Destination("default", "staging")


def entry(n: int, destination: Destination | None = PROD, at: float = 100.0) -> SpoolEntry:
    return SpoolEntry(
        event_id=f"{n:032x}",
        payload=metric_event("sentry-errors", 1_787_173_117_000 + n, {"user": f"user-{n}"}),
        received_at=at,
        destination=destination,
        sentry_project_id="4505278496" if destination is None else None,
        sentry_environment="production" if destination is None else None,
    )


def ids(batch_events: object) -> list[int]:
    return [int(e.event_id, 16) for e in batch_events]  # type: ignore[attr-defined]


def test_add_reports_new_and_duplicate_ids(spool: SqliteSpool) -> None:
    assert spool.add([entry(1), entry(2)]) == [True, True]
    assert spool.add([entry(2), entry(3), entry(3), entry(1)]) == [False, True, False, False]
    assert spool.seen([f"{n:032x}" for n in range(5)]) == {f"{n:032x}" for n in (1, 2, 3)}


def test_a_group_with_only_duplicates(spool: SqliteSpool) -> None:
    spool.add([entry(1)])
    assert spool.add([entry(1), entry(1)]) == [False, False]


def test_stored_events_survive_a_restart(spool_path: Path) -> None:
    first = SqliteSpool(spool_path)
    first.add([entry(n) for n in range(5)])
    batch = first.claim(PROD, 200.0, 3, 1.0)
    assert batch is not None
    # No close(): the process dies here. WAL + synchronous=FULL: what was committed is on disk.
    second = SqliteSpool(spool_path)
    again = second.claim(PROD, 201.0, 3, 1.0)
    assert again is not None and again.batch_id == batch.batch_id and ids(again.events) == [0, 1, 2]
    assert second.add([entry(4)]) == [False]
    second.close()
    first.close()


def test_the_spool_file_is_private_and_in_wal_mode(spool: SqliteSpool, spool_path: Path) -> None:
    assert stat.S_IMODE(spool_path.stat().st_mode) == 0o600
    db = sqlite3.connect(spool_path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_only_context_keys_are_stored(spool: SqliteSpool, spool_path: Path) -> None:
    spool.add([entry(1)])
    spool.close()
    raw = spool_path.read_bytes()
    assert b"user-1" in raw and not any(v.encode() in raw for v in ATTRIBUTE_VALUES)


def test_a_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE things (x)")
    db.commit()
    db.close()
    with pytest.raises(SpoolError) as caught:
        SqliteSpool(other)
    assert caught.value.message == f"Cannot use {other} as the relay spool: it is an SQLite file of something else."


def test_a_spool_in_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match=r"the folder .* does not exist"):
        SqliteSpool(tmp_path / "nope" / "spool.db")


def test_a_partial_batch_waits_for_the_flush_interval(spool: SqliteSpool) -> None:
    spool.add([entry(n, at=100.0) for n in range(3)])
    assert spool.due(100.5, 10, 1.0) == DuePlan((), 101.0)
    assert spool.claim(PROD, 100.5, 10, 1.0) is None
    assert spool.due(101.0, 10, 1.0) == DuePlan((PROD,), None)
    batch = spool.claim(PROD, 101.0, 10, 1.0)
    assert batch is not None and ids(batch.events) == [0, 1, 2]


def test_a_full_batch_is_due_at_once_and_batches_keep_order(spool: SqliteSpool) -> None:
    spool.add([entry(n, at=100.0) for n in range(25)])
    assert spool.due(100.0, 10, 60.0).ready == (PROD,)
    first = spool.claim(PROD, 100.0, 10, 60.0)
    assert first is not None and ids(first.events) == list(range(10))
    # While a batch is unfinished, the destination sends nothing else.
    again = spool.claim(PROD, 100.0, 10, 60.0)
    assert again is not None and again.batch_id == first.batch_id
    spool.delivered(first.batch_id, 101.0)
    second = spool.claim(PROD, 101.0, 10, 60.0)
    assert second is not None and ids(second.events) == list(range(10, 20)) and second.batch_id != first.batch_id
    spool.delivered(second.batch_id, 101.0)
    assert spool.claim(PROD, 101.0, 10, 60.0) is None  # 5 left: a partial batch, not yet due
    last = spool.claim(PROD, 101.0, 10, 60.0, flush_all=True)  # shutdown: partial batches go now
    assert last is not None and ids(last.events) == list(range(20, 25))


def test_destinations_are_batched_separately(spool: SqliteSpool) -> None:
    spool.add([entry(1, PROD), entry(2, STAGING), entry(3, PROD)])
    assert spool.due(200.0, 10, 1.0).ready == (PROD, STAGING)
    prod = spool.claim(PROD, 200.0, 10, 1.0)
    staging = spool.claim(STAGING, 200.0, 10, 1.0)
    assert prod is not None and staging is not None
    assert (ids(prod.events), ids(staging.events)) == ([1, 3], [2])


def test_a_retried_batch_keeps_its_id_and_waits_its_turn(spool: SqliteSpool) -> None:
    spool.add([entry(n) for n in range(3)])
    batch = spool.claim(PROD, 200.0, 10, 1.0)
    assert batch is not None and batch.attempts == 0
    spool.retry_later(batch.batch_id, 1, 205.0, "HTTP 503")
    assert spool.due(201.0, 10, 1.0) == DuePlan((), 205.0)
    assert spool.claim(PROD, 201.0, 10, 1.0) is None
    spool.add([entry(9)])  # arrives meanwhile: must not overtake
    retry = spool.claim(PROD, 205.0, 10, 1.0)
    assert retry is not None and retry.batch_id == batch.batch_id and retry.attempts == 1
    assert ids(retry.events) == [0, 1, 2]
    stats = read_stats(open_spool_readonly(spool.path))
    assert (stats.destinations[0].attempts, stats.destinations[0].last_error) == (1, "HTTP 503")


def test_delivered_batches_are_counted_and_their_payloads_dropped(spool: SqliteSpool) -> None:
    spool.add([entry(n) for n in range(3)])
    batch = spool.claim(PROD, 200.0, 10, 1.0)
    assert batch is not None
    assert spool.delivered(batch.batch_id, 201.0) == 3
    stats = spool.stats()
    assert (stats.queued, stats.delivered, stats.dead_lettered) == (0, 3, 0)
    assert spool.seen([entry(1).event_id]) == {entry(1).event_id}  # still a duplicate after delivery


def test_dead_letters_and_retrying_them(spool: SqliteSpool) -> None:
    spool.add([entry(n) for n in range(4)])
    batch = spool.claim(PROD, 200.0, 2, 1.0)
    assert batch is not None
    assert spool.dead_letter(batch.batch_id, 400, "LaunchDarkly refused the request (HTTP 400)", 201.0) == 2
    following = spool.claim(PROD, 201.0, 2, 1.0)
    assert following is not None and ids(following.events) == [2, 3]  # the relay goes on
    spool.delivered(following.batch_id, 202.0)
    letters = spool.dead_letters()
    assert [(d.batch_id, d.destination, d.events, d.status, d.response) for d in letters] == [
        (batch.batch_id, PROD, 2, 400, "LaunchDarkly refused the request (HTTP 400)")
    ]
    assert spool.stats().dead_lettered == 2
    assert spool.requeue_dead_letters() == 2
    assert spool.dead_letters() == [] and spool.stats().dead_lettered == 0
    again = spool.claim(PROD, 203.0, 2, 1.0)
    assert again is not None and ids(again.events) == [0, 1] and again.batch_id != batch.batch_id


def test_parked_events_are_resolved_or_dropped(spool: SqliteSpool) -> None:
    spool.add([entry(1, None), entry(2, None), entry(3)])
    assert spool.parked(10) == [
        ParkedEvent(entry(1).event_id, "4505278496", "production"),
        ParkedEvent(entry(2).event_id, "4505278496", "production"),
    ]
    assert spool.stats().unresolved == 2
    spool.resolve({entry(1).event_id: PROD, entry(2).event_id: None}, 300.0)
    assert spool.parked(10) == []
    batch = spool.claim(PROD, 300.0, 10, 1.0)
    assert batch is not None and ids(batch.events) == [1, 3]
    assert spool.add([entry(2)]) == [False]  # dropped as unmapped, still known


def test_prune_forgets_old_delivered_ids_only(spool: SqliteSpool) -> None:
    spool.add([entry(n) for n in range(3)])
    batch = spool.claim(PROD, 200.0, 2, 1.0)
    assert batch is not None
    spool.delivered(batch.batch_id, 250.0)
    assert spool.prune(240.0) == 0
    assert spool.prune(260.0) == 2
    assert spool.seen([entry(n).event_id for n in range(3)]) == {entry(2).event_id}


def test_stats_per_destination(spool: SqliteSpool) -> None:
    spool.add(
        [entry(1, PROD, at=100.0), entry(2, PROD, at=110.0), entry(3, STAGING, at=120.0), entry(4, None, at=90.0)]
    )
    batch = spool.claim(PROD, 200.0, 1, 1.0)
    assert batch is not None
    stats = spool.stats()
    by = {d.destination: d for d in stats.destinations}
    assert (by[PROD].queued, by[PROD].oldest_queued_at, by[STAGING].queued) == (2, 100.0, 1)
    assert (stats.queued, stats.unresolved, stats.oldest_queued_at) == (4, 1, 90.0)


def test_a_missing_spool_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(SpoolError) as caught:
        open_spool_readonly(tmp_path / "absent.db")
    assert caught.value.message == f"No relay spool at {tmp_path / 'absent.db'}."


def test_the_worker_groups_concurrent_adds_into_few_commits(spool: SqliteSpool) -> None:
    async def run() -> tuple[list[bool], int]:
        worker = SpoolWorker(spool)
        worker.start()
        results = await asyncio.gather(*(worker.add(entry(n % 150)) for n in range(300)))
        commits = worker.stats.commits
        seen = await worker.seen([entry(0).event_id])
        assert seen == {entry(0).event_id}
        await worker.stop()
        return list(results), commits

    results, commits = asyncio.run(run())
    assert results == [True] * 150 + [False] * 150
    assert commits < 30  # one handler per commit would be 300


def test_the_worker_reports_spool_errors_to_each_waiting_handler(spool: SqliteSpool) -> None:
    async def run() -> list[object]:
        worker = SpoolWorker(spool)
        worker.start()
        spool._db.execute("PRAGMA query_only = 1")  # every write now fails
        outcomes = await asyncio.gather(worker.add(entry(1)), worker.add(entry(2)), return_exceptions=True)
        spool._db.execute("PRAGMA query_only = 0")
        await worker.stop()
        return list(outcomes)

    outcomes = asyncio.run(run())
    assert all(isinstance(o, sqlite3.OperationalError) for o in outcomes)


def test_the_worker_refuses_work_when_stopped(spool: SqliteSpool) -> None:
    worker = SpoolWorker(spool)
    with pytest.raises(RuntimeError, match="the spool worker is not running"):
        asyncio.run(worker.add(entry(1)))


def test_groups_mixing_new_and_known_ids_get_exact_verdicts(spool: SqliteSpool) -> None:
    # Issue 13 §3.5: the verdict assumed gapless sequence numbers, and answered new events "duplicate".
    rng = random.Random(5)
    known: set[int] = set()
    wrong = 0
    for _ in range(10):
        numbers = [rng.randrange(1500) for _ in range(400)]
        verdicts = spool.add([entry(n) for n in numbers])
        in_group: set[int] = set()
        for n, new in zip(numbers, verdicts, strict=True):
            wrong += new != (n not in known and n not in in_group)
            in_group.add(n)
        known |= in_group
    assert wrong == 0
    assert spool.stats().queued == len(known)


def test_a_second_relay_on_the_same_file_is_refused(spool_path: Path) -> None:
    first = SqliteSpool(spool_path, exclusive=True)
    try:
        with pytest.raises(SpoolError) as caught:
            SqliteSpool(spool_path, exclusive=True)
        assert caught.value.message == (
            f"Another relay is using the spool {spool_path} (process {os.getpid()}): an SQLite spool serves one relay."
        )
        assert caught.value.hint == (
            "Stop the other relay, or give this one its own --spool. Several relays behind a load balancer share a "
            "PostgreSQL spool: --spool postgresql://USER@HOST:PORT/DB (docs/relay.md)."
        )
        SqliteSpool(spool_path).close()  # status, retry-dead-letters and backfill still open it
    finally:
        first.close()
    SqliteSpool(spool_path, exclusive=True).close()  # free again once the first relay stopped


def test_a_pre_existing_spool_and_its_wal_and_shm_become_private(spool_path: Path) -> None:
    SqliteSpool(spool_path).close()
    wal, shm = (spool_path.with_name(spool_path.name + suffix) for suffix in ("-wal", "-shm"))
    for path in (spool_path, wal, shm):
        path.touch()
        path.chmod(0o644)
    spool = SqliteSpool(spool_path)
    spool.add([entry(1)])
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (spool_path, wal, shm)}
    spool.close()
    assert modes == {"spool.db": 0o600, "spool.db-wal": 0o600, "spool.db-shm": 0o600}


def test_the_wal_is_cut_back_after_steady_load(spool_path: Path) -> None:
    # Issue 13 §3.1: checkpoints beside a busy writer never restarted the log (1.86 GB after 100 k events).
    limit = 256 * 1024
    spool = SqliteSpool(spool_path, synchronous="OFF", wal_limit=limit)
    stop = threading.Event()
    largest = 0

    def checkpoints() -> None:
        nonlocal largest
        while not stop.is_set():
            largest = max(largest, spool.wal_size())
            spool.checkpoint()
            time.sleep(0.005)

    thread = threading.Thread(target=checkpoints)
    thread.start()
    try:
        for group in range(1000):
            spool.add([entry(group * 20 + n) for n in range(20)])
    finally:
        stop.set()
        thread.join()
    spool.checkpoint()
    spool.add([entry(10**6)])  # the first commit after a restarted log cuts the file back
    assert largest > limit and spool.wal_size() <= limit, (largest, spool.wal_size())
    spool.close()


def test_readiness_proves_the_file_on_disk_is_the_open_spool(spool_path: Path) -> None:
    spool = SqliteSpool(spool_path)
    spool.check_writable()
    spool_path.unlink()
    with pytest.raises(SpoolUnavailable) as caught:
        spool.check_writable()
    assert str(caught.value) == f"the spool file {spool_path} was deleted while the relay ran"
    # Intake must not acknowledge events written into a deleted file.
    with pytest.raises(SpoolUnavailable):
        spool.add([entry(1)])
    spool.close()


def test_a_spool_replaced_or_truncated_while_open_is_unavailable(spool_path: Path) -> None:
    spool = SqliteSpool(spool_path)
    spool.add([entry(1)])
    spool.checkpoint()
    replacement = spool_path.with_name("other.db")
    SqliteSpool(replacement).close()
    replacement.replace(spool_path)
    with pytest.raises(SpoolUnavailable, match="was replaced while the relay ran"):
        spool.check_writable()
    spool.close()
    spool = SqliteSpool(spool_path)
    with spool_path.open("r+b") as stream:
        stream.truncate(0)
    with pytest.raises(SpoolUnavailable, match="was truncated or overwritten while the relay ran"):
        spool.add([entry(2)])
    spool.close()


def test_a_damaged_spool_is_a_clear_usage_error(spool_path: Path) -> None:
    SqliteSpool(spool_path).close()
    spool_path.write_bytes(b"\x00garbage" * 600)
    with pytest.raises(SpoolError) as caught:
        SqliteSpool(spool_path)
    assert caught.value.message == (
        f"Cannot use {spool_path} as the relay spool: it is not an SQLite database (damaged or overwritten)."
    )


def test_readiness_sees_a_full_disk(spool_path: Path) -> None:
    free = shutil.disk_usage(spool_path.parent).free
    spool = SqliteSpool(spool_path, min_free=free * 2)  # as if the disk were all but full
    with pytest.raises(SpoolUnavailable, match=rf"^the disk holding the spool {re.escape(str(spool_path))} is full"):
        spool.check_writable()
    spool.close()
