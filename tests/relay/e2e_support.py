"""What the end-to-end relay tests share: the webhooks to send, the relay processes, the sender, the final checks.

test_relay_e2e.py runs one relay on an SQLite spool through a SIGKILL; test_relay_e2e_postgres.py
runs two on one PostgreSQL spool. Both send real-shaped signed webhooks as Sentry would, then
require the same outcome: every accepted event in the emulator once, nothing else, the spool
drained, and no secret or context data in the logs.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from relay_helpers import (
    API_ID,
    ATTRIBUTE_VALUES,
    LD_TOKEN,
    SECRET,
    SENTRY_TOKEN,
    SLUGS,
    UNMAPPED_ID,
    WEB_ID,
    body_of,
    error_created,
    hook_headers,
)

from ld_sentry_cli.sandbox import ImportedEvent, Sandbox

CONCURRENCY = 64
# httpcore checks every idle connection of a pool on each request (a poll() per connection), so
# one pool of 64 costs milliseconds per request; eight pools of 8 keep the sender cheap.
CLIENTS = 8
ROUTES = [  # (Sentry project id, environment) → (LaunchDarkly project, environment)
    ((WEB_ID, "production"), ("default", "production")),
    ((WEB_ID, "staging"), ("default", "staging")),
    ((API_ID, "production"), ("checkout", "production")),
]

Statuses = dict[str, list[int]]  # the HTTP statuses the sender got, by Delivery.kind


@dataclass(frozen=True)
class Delivery:
    """One webhook to send and what the relay must make of it."""

    event_id: str
    body: bytes
    kind: str  # accepted | duplicate | unmapped | no_context
    destination: tuple[str, str] | None


def plan(count: int, seed: int = 7) -> list[Delivery]:
    """count deliveries: 5% duplicates of accepted ones, 5% unmapped, 5% without context, the rest accepted."""
    rng = random.Random(seed)
    special = count // 20
    accepted_count = count - 3 * special
    deliveries: list[Delivery] = []
    base = error_created("0" * 32)
    event = base["data"]["error"]
    # Real-shaped but lighter: the stack frames and breadcrumbs only cost the sender time here.
    event.pop("exception")
    event.pop("breadcrumbs")
    for n in range(accepted_count + 2 * special):
        event_id = f"{n + 1:032x}"
        event["event_id"] = event_id
        if n < accepted_count:
            (project, environment), destination = ROUTES[n % len(ROUTES)]
            kind = "accepted"
        elif n < accepted_count + special:
            project, environment, destination, kind = (UNMAPPED_ID, "production", None, "unmapped")
            if n % 2:
                project, environment = WEB_ID, "qa"
        else:
            (project, environment), destination = ROUTES[n % len(ROUTES)]
            kind = "no_context"
        event["project"] = project
        event["url"] = f"https://sentry.io/api/0/projects/acme/{SLUGS[project]}/events/{event_id}/"
        event["environment"] = environment
        event["tags"] = [["environment", environment], ["level", "error"]]
        contexts = {"runtime": {"name": "CPython", "type": "runtime"}}
        if kind != "no_context":
            contexts["launchdarklyContext"] = {
                "kind": "multi",
                "user": {"key": f"user-{event_id}", "name": "Sandy", "email": "sandy@example.com"},
                "organization": {"key": "org-42", "name": "Acme"},
                "type": "launchdarklyContext",
            }
        event["contexts"] = contexts
        deliveries.append(Delivery(event_id, body_of(base), kind, destination))
    rng.shuffle(deliveries)
    originals = [d for d in deliveries if d.kind == "accepted"]
    for original in rng.sample(originals, special):
        # Sentry's duplicate deliveries: the same body, later (sometimes while the first is in flight).
        position = deliveries.index(original) + rng.randint(1, 200)
        deliveries.insert(position, Delivery(original.event_id, original.body, "duplicate", original.destination))
    return deliveries


def expected_events(deliveries: Sequence[Delivery]) -> dict[str, tuple[str, str] | None]:
    """Each accepted event id and the LaunchDarkly project and environment it must reach."""
    return {d.event_id: d.destination for d in deliveries if d.kind == "accepted"}


def free_port() -> int:
    """A loopback port free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def relay_env() -> dict[str, str]:
    """The relay's environment: this one without LaunchDarkly, Sentry or ldsentry settings, plus the test's secrets."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LD_", "SENTRY_", "LDSENTRY_"))},
        "LD_ACCESS_TOKEN": LD_TOKEN,  # and no SENTRY_AUTH_TOKEN: each webhook's url names its project
        "SENTRY_CLIENT_SECRET": SECRET,
    }


class RelayProcess:
    """The relay as a user runs it: the installed code, in its own process."""

    def __init__(
        self,
        workdir: Path,
        port: int,
        env: dict[str, str],
        *,
        spool: str | None = None,
        extra: Sequence[str] = (),
        flush_interval_ms: int = 200,
        launcher: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.port = port
        self.env = env
        self.spool = spool or str(workdir / "spool.db")
        self.extra = list(extra)
        self.flush_interval_ms = flush_interval_ms
        self.launcher = list(launcher)  # a command that runs the relay's (e.g. a shell that lowers a limit first)
        self.name = f"relay-{port}"
        self.logs: list[Path] = []
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start `ldsentry relay serve`, its output in a new log file."""
        log = self.workdir / f"{self.name}-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as stream:
            self.process = subprocess.Popen(
                [
                    *self.launcher,
                    sys.executable,
                    "-m",
                    "ld_sentry_cli",
                    "relay",
                    "serve",
                    "--port",
                    str(self.port),
                    "--spool",
                    self.spool,
                    "--flush-interval-ms",
                    str(self.flush_interval_ms),
                    *self.extra,
                ],
                cwd=self.workdir,
                env=self.env,
                stdout=stream,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until /readyz answers 200; fails with the logs if the relay exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log_text()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the relay was not ready within {timeout} s:\n{self.log_text()}")

    def log_text(self) -> str:
        """Everything the relay wrote, over all its starts."""
        return "".join(log.read_text(errors="replace") for log in self.logs if log.exists())


async def send_all(
    deliveries: list[Delivery],
    relays: list[RelayProcess],
    *,
    deadline_s: float,
    retry_pause: float,
    at_halfway: Callable[[], Awaitable[None]],
) -> Statuses:
    """Deliver everything with bounded concurrency, as Sentry would; run at_halfway once half are answered.

    Delivery n goes to relay n (round robin, as a load balancer would); one refused (a connection
    error or a 5xx) goes again, to the next relay, after retry_pause (as Sentry does on a connection
    error; whether it retries a 5xx is unverified, and the backfill covers it: sentry-api.md §7).
    """
    statuses: Statuses = defaultdict(list)
    done = 0
    halfway = asyncio.Event()
    semaphore = asyncio.Semaphore(CONCURRENCY)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
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
                        target = (target + 1) % len(relays)
                        await asyncio.sleep(retry_pause)
                        continue
                    statuses[delivery.kind].append(response.status_code)
                    break
            done += 1
            if done == len(deliveries) // 2:
                halfway.set()

        async def halfway_through() -> None:
            await halfway.wait()
            await at_halfway()

        await asyncio.gather(halfway_through(), *(deliver(n, d) for n, d in enumerate(deliveries)))
    finally:
        for client in clients:
            await client.aclose()
    return statuses


def wait_for_imports(sandbox: Sandbox, expected: dict[str, Any], timeout: float = 60.0) -> None:
    """Until the forwarder caught up: every expected event reached the emulator (bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        received = {e.event["contextKeys"]["user"][5:] for e in sandbox.imported_events()}
        if set(expected) <= received:
            return
        time.sleep(0.2)


def stop(relays: Sequence[RelayProcess]) -> None:
    """SIGTERM every relay; each must stop cleanly (exit 0)."""
    for relay in relays:
        assert relay.process is not None
        relay.process.send_signal(signal.SIGTERM)
    for relay in relays:
        assert relay.process is not None and relay.process.wait(30) == 0, relay.log_text()


def relay_status(spool: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`ldsentry relay status --spool spool -o json`, run as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "ld_sentry_cli", "relay", "status", "--spool", spool, "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def assert_sender_answered(statuses: Statuses, deliveries: Sequence[Delivery], expected: dict[str, Any]) -> None:
    """Accepted events were acknowledged (a retry after a kill may find its event already stored: 200
    duplicate), the rest acknowledged without forwarding, and every delivery got one answer."""
    assert set(statuses["accepted"]) <= {200, 202} and statuses["accepted"].count(202) >= len(expected) * 0.95
    assert set(statuses["duplicate"]) <= {200, 202}
    assert set(statuses["unmapped"]) == {200} and set(statuses["no_context"]) == {200}
    assert sum(len(s) for s in statuses.values()) == len(deliveries)


def assert_imported_once(imported: Sequence[ImportedEvent], expected: dict[str, Any]) -> None:
    """The emulator holds every accepted event, at its destination, in one payload id; nothing else.

    A payload seen more than once was re-sent whole (after a kill or a failure) under the same id,
    with the same body: LaunchDarkly drops the copy by its id (launchdarkly-api.md §4.5).
    """
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


def assert_spool_drained(status: subprocess.CompletedProcess[str], expected: dict[str, Any]) -> None:
    """`relay status` agrees: nothing queued, nothing dead, every accepted event delivered."""
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert (report["queued"], report["dead_lettered"], report["delivered"]) == (0, 0, len(expected))


def assert_no_secrets(logs: str) -> None:
    """Logs name events, never secrets or context data."""
    for value in (SECRET, LD_TOKEN, SENTRY_TOKEN, *ATTRIBUTE_VALUES):
        assert value not in logs
