"""What every spool must do, run against each: SQLite, and PostgreSQL on a real server.

Dedupe verdicts, batches with stable ids and in order, the flush interval, retries, dead letters,
parked events, pruning and stats. What only one spool does (SQLite's file checks and lock,
PostgreSQL's leases and take-over) is tested in test_relay_spool.py and test_relay_spool_postgres.py.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_helpers import PROD, STAGING, ids, spool_entry

from ld_sentry_cli.relay.model import ParkedEvent
from ld_sentry_cli.relay.spool import DuePlan, Spool
from ld_sentry_cli.relay.spool_sqlite import SqliteSpool


@pytest.fixture(params=["sqlite", "postgresql"])
def spool(request: pytest.FixtureRequest, spool_path: Path) -> Iterator[Spool]:
    """Each spool in turn, fresh, closed after the test (PostgreSQL: a new database on the session's server)."""
    store: Spool
    if request.param == "sqlite":
        store = SqliteSpool(spool_path)
    else:
        url = request.getfixturevalue("postgres_url")  # skips, or fails under LDSENTRY_REQUIRE_POSTGRES=1, without one
        from ld_sentry_cli.relay.spool_postgres import PostgresSpool  # noqa: PLC0415 - needs psycopg, the relay extra's driver

        store = PostgresSpool(url)
    yield store
    store.close()


def test_add_reports_new_and_duplicate_ids(spool: Spool) -> None:
    assert spool.add([spool_entry(1), spool_entry(2)]) == [True, True]
    assert spool.add([spool_entry(2), spool_entry(3), spool_entry(3), spool_entry(1)]) == [False, True, False, False]
    assert spool.seen([f"{n:032x}" for n in range(5)]) == {f"{n:032x}" for n in (1, 2, 3)}


def test_a_group_with_only_duplicates(spool: Spool) -> None:
    spool.add([spool_entry(1)])
    assert spool.add([spool_entry(1), spool_entry(1)]) == [False, False]


def test_a_partial_batch_waits_for_the_flush_interval(spool: Spool) -> None:
    spool.add([spool_entry(n, at=100.0) for n in range(3)])
    assert spool.due(100.5, 10, 1.0) == DuePlan((), 101.0)
    assert spool.claim(PROD, 100.5, 10, 1.0) is None
    assert spool.due(101.0, 10, 1.0) == DuePlan((PROD,), None)
    batch = spool.claim(PROD, 101.0, 10, 1.0)
    assert batch is not None and ids(batch.events) == [0, 1, 2]


def test_a_full_batch_is_due_at_once_and_batches_keep_order(spool: Spool) -> None:
    spool.add([spool_entry(n, at=100.0) for n in range(25)])
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


def test_destinations_are_batched_separately(spool: Spool) -> None:
    spool.add([spool_entry(1, PROD), spool_entry(2, STAGING), spool_entry(3, PROD)])
    assert spool.due(200.0, 10, 1.0).ready == (PROD, STAGING)
    prod = spool.claim(PROD, 200.0, 10, 1.0)
    staging = spool.claim(STAGING, 200.0, 10, 1.0)
    assert prod is not None and staging is not None
    assert (ids(prod.events), ids(staging.events)) == ([1, 3], [2])


def test_a_retried_batch_keeps_its_id_and_waits_its_turn(spool: Spool) -> None:
    spool.add([spool_entry(n) for n in range(3)])
    batch = spool.claim(PROD, 200.0, 10, 1.0)
    assert batch is not None and batch.attempts == 0
    spool.retry_later(batch.batch_id, 1, 205.0, "HTTP 503")
    assert spool.due(201.0, 10, 1.0) == DuePlan((), 205.0)
    assert spool.claim(PROD, 201.0, 10, 1.0) is None
    spool.add([spool_entry(9)])  # arrives meanwhile: must not overtake
    retry = spool.claim(PROD, 205.0, 10, 1.0)
    assert retry is not None and retry.batch_id == batch.batch_id and retry.attempts == 1
    assert ids(retry.events) == [0, 1, 2]
    stats = spool.stats()
    assert (stats.destinations[0].attempts, stats.destinations[0].last_error) == (1, "HTTP 503")


def test_delivered_batches_are_counted_and_their_payloads_dropped(spool: Spool) -> None:
    spool.add([spool_entry(n) for n in range(3)])
    batch = spool.claim(PROD, 200.0, 10, 1.0)
    assert batch is not None
    assert spool.delivered(batch.batch_id, 201.0) == 3
    stats = spool.stats()
    assert (stats.queued, stats.delivered, stats.dead_lettered) == (0, 3, 0)
    assert spool.seen([spool_entry(1).event_id]) == {spool_entry(1).event_id}  # still a duplicate after delivery


def test_dead_letters_and_retrying_them(spool: Spool) -> None:
    spool.add([spool_entry(n) for n in range(4)])
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


def test_parked_events_are_resolved_or_dropped(spool: Spool) -> None:
    spool.add([spool_entry(1, None), spool_entry(2, None), spool_entry(3)])
    assert spool.parked(10) == [
        ParkedEvent(spool_entry(1).event_id, "4505278496", "production"),
        ParkedEvent(spool_entry(2).event_id, "4505278496", "production"),
    ]
    assert spool.stats().unresolved == 2
    spool.resolve({spool_entry(1).event_id: PROD, spool_entry(2).event_id: None}, 300.0)
    assert spool.parked(10) == []
    batch = spool.claim(PROD, 300.0, 10, 1.0)
    assert batch is not None and ids(batch.events) == [1, 3]
    assert spool.add([spool_entry(2)]) == [False]  # dropped as unmapped, still known


def test_prune_forgets_old_delivered_ids_only(spool: Spool) -> None:
    spool.add([spool_entry(n) for n in range(3)])
    batch = spool.claim(PROD, 200.0, 2, 1.0)
    assert batch is not None
    spool.delivered(batch.batch_id, 250.0)
    assert spool.prune(240.0) == 0
    assert spool.prune(260.0) == 2
    assert spool.seen([spool_entry(n).event_id for n in range(3)]) == {spool_entry(2).event_id}


def test_stats_per_destination(spool: Spool) -> None:
    spool.add(
        [
            spool_entry(1, PROD, at=100.0),
            spool_entry(2, PROD, at=110.0),
            spool_entry(3, STAGING, at=120.0),
            spool_entry(4, None, at=90.0),
        ]
    )
    batch = spool.claim(PROD, 200.0, 1, 1.0)
    assert batch is not None
    stats = spool.stats()
    by = {d.destination: d for d in stats.destinations}
    assert (by[PROD].queued, by[PROD].oldest_queued_at, by[STAGING].queued) == (2, 100.0, 1)
    assert (stats.queued, stats.unresolved, stats.oldest_queued_at) == (4, 1, 90.0)


def test_groups_mixing_new_and_known_ids_get_exact_verdicts(spool: Spool) -> None:
    # Issue 13 §3.5: the verdict assumed gapless sequence numbers, and answered new events "duplicate".
    rng = random.Random(5)
    known: set[int] = set()
    wrong = 0
    for _ in range(10):
        numbers = [rng.randrange(1500) for _ in range(400)]
        verdicts = spool.add([spool_entry(n) for n in numbers])
        in_group: set[int] = set()
        for n, new in zip(numbers, verdicts, strict=True):
            wrong += new != (n not in known and n not in in_group)
            in_group.add(n)
        known |= in_group
    assert wrong == 0
    assert spool.stats().queued == len(known)
