"""The SQLite spool's own behaviour: durability, its file and lock, the WAL, and the spool worker.

What every spool does (dedupe, batches, retries, dead letters, parking, stats) is in
test_relay_spool_behaviour.py, run against this spool and the PostgreSQL one.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from relay_helpers import ATTRIBUTE_VALUES, PROD, ids, spool_entry

from ld_sentry_cli.relay.spool import SpoolError, SpoolUnavailable
from ld_sentry_cli.relay.spool_sqlite import SqliteSpool, open_spool_readonly
from ld_sentry_cli.relay.worker import SpoolWorker


def test_stored_events_survive_a_restart(spool_path: Path) -> None:
    first = SqliteSpool(spool_path)
    first.add([spool_entry(n) for n in range(5)])
    batch = first.claim(PROD, 200.0, 3, 1.0)
    assert batch is not None
    # No close(): the process dies here. WAL + synchronous=FULL: what was committed is on disk.
    second = SqliteSpool(spool_path)
    again = second.claim(PROD, 201.0, 3, 1.0)
    assert again is not None and again.batch_id == batch.batch_id and ids(again.events) == [0, 1, 2]
    assert second.add([spool_entry(4)]) == [False]
    second.close()
    first.close()


def test_the_spool_file_is_private_and_in_wal_mode(spool: SqliteSpool, spool_path: Path) -> None:
    assert stat.S_IMODE(spool_path.stat().st_mode) == 0o600
    db = sqlite3.connect(spool_path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_only_context_keys_are_stored(spool: SqliteSpool, spool_path: Path) -> None:
    spool.add([spool_entry(1)])
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


def test_a_missing_spool_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(SpoolError) as caught:
        open_spool_readonly(tmp_path / "absent.db")
    assert caught.value.message == f"No relay spool at {tmp_path / 'absent.db'}."


def test_the_worker_groups_concurrent_adds_into_few_commits(spool: SqliteSpool) -> None:
    async def run() -> tuple[list[bool], int]:
        worker = SpoolWorker(spool)
        worker.start()
        results = await asyncio.gather(*(worker.add(spool_entry(n % 150)) for n in range(300)))
        commits = worker.stats.commits
        seen = await worker.seen([spool_entry(0).event_id])
        assert seen == {spool_entry(0).event_id}
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
        outcomes = await asyncio.gather(worker.add(spool_entry(1)), worker.add(spool_entry(2)), return_exceptions=True)
        spool._db.execute("PRAGMA query_only = 0")
        await worker.stop()
        return list(outcomes)

    outcomes = asyncio.run(run())
    assert all(isinstance(o, sqlite3.OperationalError) for o in outcomes)


def test_the_worker_refuses_work_when_stopped(spool: SqliteSpool) -> None:
    worker = SpoolWorker(spool)
    with pytest.raises(RuntimeError, match="the spool worker is not running"):
        asyncio.run(worker.add(spool_entry(1)))


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
    spool.add([spool_entry(1)])
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
            spool.add([spool_entry(group * 20 + n) for n in range(20)])
    finally:
        stop.set()
        thread.join()
    spool.checkpoint()
    spool.add([spool_entry(10**6)])  # the first commit after a restarted log cuts the file back
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
        spool.add([spool_entry(1)])
    spool.close()


def test_a_spool_replaced_or_truncated_while_open_is_unavailable(spool_path: Path) -> None:
    spool = SqliteSpool(spool_path)
    spool.add([spool_entry(1)])
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
        spool.add([spool_entry(2)])
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
