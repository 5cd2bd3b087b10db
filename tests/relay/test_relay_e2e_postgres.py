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
import os
import signal
import sys
import time
from pathlib import Path

import e2e_support as e2e
import pytest
from relay_helpers import config_text, require_psycopg, scenario

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


def holds_lease(url: str, owner: str, timeout: float = 0.0) -> bool:
    """Whether the relay `owner` holds a batch's lease (a dead one's stays until it expires), within timeout s."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute("SELECT 1 FROM ldsentry_relay_batches WHERE lease_owner = %s", (owner,)).fetchone() is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
    return True


def wait_for_lease(url: str, owner: str, timeout: float = 10.0) -> None:
    """Until the relay `owner` holds a batch's lease (it is sending): the moment to kill it."""
    assert holds_lease(url, owner, timeout), "the first relay never held a lease"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and SIGTERM are POSIX")
def test_two_relays_on_one_postgresql_spool_import_every_event_once(tmp_path: Path, postgres_url: str) -> None:
    deliveries = e2e.plan(WEBHOOKS, seed=11)
    expected = e2e.expected_events(deliveries)
    sandbox = build_app(scenario(), faults=IMPORT_FAULTS)
    with serve_in_thread(sandbox) as emulator:
        (tmp_path / "ldsentry.toml").write_text(config_text(emulator.url))
        env = e2e.relay_env()
        relays = [
            e2e.RelayProcess(tmp_path, e2e.free_port(), env, spool=postgres_url, extra=["--lease", str(LEASE_S)])
            for _ in range(2)
        ]
        relays[0].start()
        relays[0].wait_ready()
        (victim_id,) = replica_ids(postgres_url)
        relays[1].start()
        relays[1].wait_ready()
        killed_holding_lease: list[bool] = []

        async def kill_the_first_holding_a_lease_and_restart_it() -> None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, wait_for_lease, postgres_url, victim_id)
            victim = relays[0]
            assert victim.process is not None
            victim.process.send_signal(signal.SIGKILL)
            await loop.run_in_executor(None, victim.process.wait)
            # On a loaded machine the batch may have been delivered between the look and the kill.
            killed_holding_lease.append(await loop.run_in_executor(None, holds_lease, postgres_url, victim_id))
            victim.start()
            await loop.run_in_executor(None, victim.wait_ready)

        started = time.monotonic()
        statuses = asyncio.run(
            e2e.send_all(
                deliveries,
                relays,
                deadline_s=DEADLINE_S,
                retry_pause=0.02,
                at_halfway=kill_the_first_holding_a_lease_and_restart_it,
            )
        )
        sent_in = time.monotonic() - started
        e2e.wait_for_imports(sandbox, expected)
        e2e.stop(relays)
        status = e2e.relay_status(postgres_url, env)
        imported = sandbox.imported_events()

    e2e.assert_sender_answered(statuses, deliveries, expected)
    e2e.assert_imported_once(imported, expected)
    # The shared spool agrees, read by any relay's `status`.
    e2e.assert_spool_drained(status, expected)
    logs = "".join(relay.log_text() for relay in relays)
    assert logs.count("ldsentry relay listening on") == 3 and logs.count("ldsentry relay stopped") == 2
    e2e.assert_no_secrets(logs)
    # The killed relay's batch was sent again by a relay that took its lease over, under the same id
    # (test_relay_spool_postgres.py covers the take-over itself whatever the timing).
    if killed_holding_lease == [True]:
        assert "took over batch" in logs
    print(f"\n{len(deliveries)} webhooks to two relays in {sent_in:.1f} s ({len(deliveries) / sent_in:.0f}/s)")
