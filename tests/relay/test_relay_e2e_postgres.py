"""End to end: two `ldsentry relay serve` processes on one PostgreSQL spool, one SIGKILLed and restarted.

Webhooks are split across both relays as a load balancer would (with Sentry's duplicate deliveries
landing on either), a delivery that fails on one relay is retried on the other, the metric import
endpoint fails intermittently (5xx and dropped connections), and halfway through the first relay is
killed with SIGKILL and started again. In the end LaunchDarkly (the emulator) must hold every
accepted event exactly once by event id, and nothing else: a batch sent again (after a failure, or
by the other relay once the dead one's lease expired) carries the same X-LaunchDarkly-Payload-ID and
the same body, which the import API deduplicates (launchdarkly-api.md §4.5).

LDSENTRY_E2E_PG_WEBHOOKS sets the number of webhooks (3,000 by default: about 15 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from postgres_support import PostgresServer, require_psycopg
from relay_helpers import ATTRIBUTE_VALUES, LD_TOKEN, SECRET, config_text, hook_headers, scenario
from test_relay_e2e import CLIENTS, CONCURRENCY, Delivery, RelayProcess, free_port, plan

from ld_sentry_cli.sandbox import FaultPlan, FaultRule, build_app, serve_in_thread

psycopg = require_psycopg()
WEBHOOKS = int(os.environ.get("LDSENTRY_E2E_PG_WEBHOOKS", "3000"))
DEADLINE_S = 120
LEASE_S = 2.0  # how long the dead relay's batch stays claimed before the other one takes it over
# A round trip like the real one keeps batches in flight, so the kill finds one to take over.
IMPORT_FAULTS = FaultPlan(
    seed=13,
    routes=(FaultRule(prefix="/v2/event-data-import", latency_ms=100, server_errors=0.15, dropped=0.05),),
)


def replica_ids(url: str) -> set[str]:
    """The relays that wrote their readiness row (each process has its own id)."""
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT replica FROM ldsentry_relay_replicas")}


def holds_lease(url: str, owner: str) -> bool:
    """Whether the relay `owner` holds a batch's lease now (a dead relay's stays until it expires)."""
    with psycopg.connect(url, autocommit=True) as conn:
        query = "SELECT 1 FROM ldsentry_relay_batches WHERE lease_owner = %s"
        return conn.execute(query, (owner,)).fetchone() is not None


def wait_for_lease(url: str, owner: str, timeout: float = 10.0) -> None:
    """Until the relay `owner` holds a batch's lease (it is sending): the moment to kill it."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            query = "SELECT 1 FROM ldsentry_relay_batches WHERE lease_owner = %s"
            if conn.execute(query, (owner,)).fetchone():
                return
            time.sleep(0.005)
    raise AssertionError("the first relay never held a lease")


async def send_all(
    deliveries: list[Delivery], relays: list[RelayProcess], url: str, victim_id: str, killed_holding_lease: list[bool]
) -> dict[str, list[int]]:
    """Deliver everything across both relays; SIGKILL the first one halfway, while it holds a lease, and restart it."""
    statuses: dict[str, list[int]] = defaultdict(list)
    done = 0
    halfway = asyncio.Event()
    semaphore = asyncio.Semaphore(CONCURRENCY)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    per_client = CONCURRENCY // CLIENTS
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    clients = [httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(10.0), trust_env=False) for _ in range(CLIENTS)]
    try:

        async def deliver(index: int, delivery: Delivery) -> None:
            nonlocal done
            headers = hook_headers(delivery.body)
            client = clients[index % CLIENTS]
            target = index % len(relays)
            async with semaphore:
                while True:
                    assert loop.time() < deadline, "deliveries did not finish in time"
                    url = f"http://127.0.0.1:{relays[target].port}/hooks/sentry"
                    try:
                        response = await client.post(url, content=delivery.body, headers=headers)
                    except httpx.TransportError:
                        response = None
                    if response is None or response.status_code >= 500:
                        target = (target + 1) % len(relays)  # the load balancer tries the other relay
                        await asyncio.sleep(0.02)
                        continue
                    statuses[delivery.kind].append(response.status_code)
                    break
            done += 1
            if done == len(deliveries) // 2:
                halfway.set()

        async def kill_and_restart() -> None:
            await halfway.wait()
            await loop.run_in_executor(None, wait_for_lease, url, victim_id)
            victim = relays[0]
            assert victim.process is not None
            victim.process.send_signal(signal.SIGKILL)
            await loop.run_in_executor(None, victim.process.wait)
            # On a loaded machine the batch may have been delivered between the look and the kill.
            killed_holding_lease.append(await loop.run_in_executor(None, holds_lease, url, victim_id))
            victim.start()
            await loop.run_in_executor(None, victim.wait_ready)

        await asyncio.gather(kill_and_restart(), *(deliver(n, d) for n, d in enumerate(deliveries)))
    finally:
        for client in clients:
            await client.aclose()
    return statuses


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and SIGTERM are POSIX")
def test_two_relays_on_one_postgresql_spool_import_every_event_once(
    tmp_path: Path, postgres: PostgresServer, postgres_url: str
) -> None:
    deliveries = plan(WEBHOOKS, seed=11)
    expected = {d.event_id: d.destination for d in deliveries if d.kind == "accepted"}
    sandbox = build_app(scenario(), faults=IMPORT_FAULTS)
    with serve_in_thread(sandbox) as emulator:
        (tmp_path / "ldsentry.toml").write_text(config_text(emulator.url))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("LD_", "SENTRY_", "LDSENTRY_"))},
            "LD_ACCESS_TOKEN": LD_TOKEN,  # and no SENTRY_AUTH_TOKEN: each webhook's url names its project
            "SENTRY_CLIENT_SECRET": SECRET,
        }
        relays = [
            RelayProcess(tmp_path, free_port(), env, spool=postgres_url, extra=["--lease", str(LEASE_S)])
            for _ in range(2)
        ]
        relays[0].start()
        relays[0].wait_ready()
        (victim_id,) = replica_ids(postgres_url)
        relays[1].start()
        relays[1].wait_ready()
        started = time.monotonic()
        killed_holding_lease: list[bool] = []
        statuses = asyncio.run(send_all(deliveries, relays, postgres_url, victim_id, killed_holding_lease))
        sent_in = time.monotonic() - started

        deadline = time.monotonic() + 60
        received: set[str] = set()
        while time.monotonic() < deadline:
            received = {e.event["contextKeys"]["user"][5:] for e in sandbox.imported_events()}
            if set(expected) <= received:
                break
            time.sleep(0.2)

        for relay in relays:
            assert relay.process is not None
            relay.process.send_signal(signal.SIGTERM)
        for relay in relays:
            assert relay.process is not None and relay.process.wait(30) == 0, relay.log_text()
        status = subprocess.run(
            [sys.executable, "-m", "ld_sentry_cli", "relay", "status", "--spool", postgres_url, "-o", "json"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        imported = sandbox.imported_events()

    assert set(statuses["accepted"]) <= {200, 202} and statuses["accepted"].count(202) >= len(expected) * 0.95
    assert set(statuses["duplicate"]) <= {200, 202}
    assert set(statuses["unmapped"]) == {200} and set(statuses["no_context"]) == {200}
    assert sum(len(s) for s in statuses.values()) == len(deliveries)

    # Every accepted event at its destination, in one payload id; a payload seen twice is the same body.
    payloads_by_event: dict[str, set[str | None]] = defaultdict(set)
    content_by_payload: dict[str | None, list[Any]] = defaultdict(list)
    for record in imported:
        event_id = record.event["contextKeys"]["user"][5:]
        assert expected.get(event_id) == (record.project_key, record.environment_key), event_id
        payloads_by_event[event_id].add(record.payload_id)
        content_by_payload[record.payload_id].append(json.dumps(record.event, sort_keys=True))
    assert set(payloads_by_event) == set(expected)
    assert all(len(ids) == 1 for ids in payloads_by_event.values()), "an event was sent in two payloads"
    for payload_id, contents in content_by_payload.items():
        assert payload_id is not None
        unique = set(contents)
        assert len(contents) % len(unique) == 0 and all(
            contents.count(c) == len(contents) // len(unique) for c in unique
        )

    # The shared spool agrees, read by any relay's `status`: nothing queued or dead, everything delivered.
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert (report["queued"], report["dead_lettered"], report["delivered"]) == (0, 0, len(expected))

    logs = "".join(relay.log_text() for relay in relays)
    assert logs.count("ldsentry relay listening on") == 3 and logs.count("ldsentry relay stopped") == 2
    for value in (SECRET, LD_TOKEN, *ATTRIBUTE_VALUES):
        assert value not in logs
    # The killed relay's batch was sent again by a relay that took its lease over, under the same id
    # (test_relay_spool_postgres.py covers the take-over itself whatever the timing).
    if killed_holding_lease == [True]:
        assert "took over batch" in logs
    print(f"\n{len(deliveries)} webhooks to two relays in {sent_in:.1f} s ({len(deliveries) / sent_in:.0f}/s)")
