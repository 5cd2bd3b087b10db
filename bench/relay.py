"""Benchmark `ldsentry relay serve`: accepted webhooks per second, acknowledgement latency, forwarding lag.

    python bench/relay.py                 # 3 runs, about four minutes on a 2-core machine; prints Markdown
    python bench/relay.py --runs 1 --quick  # a smoke run
    python bench/relay.py --payload small   # ~1 KB webhooks instead of the 11.6 KB real-shaped ones
    python bench/relay.py --plain           # uvicorn without httptools and uvloop (h11 + asyncio)
    python bench/relay.py --spools sqlite,postgres,postgres2 --rate 500   # issue 13: the shared spool

Spools (`--spools`, a comma-separated list, each measured in its own runs):
- `sqlite`: one relay on its embedded SQLite spool (the default);
- `postgres`: one relay on a PostgreSQL spool;
- `postgres2`: two relays on one PostgreSQL spool, the load split evenly across both (as a load
  balancer would), every webhook to one of them.
The PostgreSQL server is started for the benchmark on this machine (initdb/pg_ctl from PATH, as
the tests do, durable: fsync and synchronous_commit on), with a fresh database per run.

Each run starts, on loopback only:
- the emulator (`python -m ld_sentry_cli.sandbox`), which answers the metric import API and the
  Sentry project list, as its own process;
- the real relay (`python -m ld_sentry_cli relay serve`), or two, with the spool under test
  (SQLite: WAL, synchronous=FULL), each as its own process;
- the load generator, in this process: raw asyncio HTTP/1.1 keep-alive connections sending
  pre-built, signed, real-shaped `error.created` webhooks (tests/relay/fixtures/error_created.json,
  about 11.6 KB each), so the generator spends as little CPU as possible.

Phases (every loop is bounded by a count and a deadline):
1. sustained: N webhooks as fast as the relay answers, over C connections (closed loop). Reported:
   accepted webhooks per second, and how long the forwarder needs afterwards to have every event
   acknowledged by the emulator (it must keep up, not just the intake).
2. paced: 1,000 webhooks per second for S seconds (open loop: each request has a scheduled send
   time and its latency is measured from that time, so a stalled relay cannot hide queueing).
   Reported: p50/p99/max acknowledgement latency, and forwarding lag (the emulator's receipt time
   minus the send time) p50/p99/max, matched per event through its context key.
For SQLite, the largest size of the `-wal` file during the run is reported too (issue 13 §3.1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "relay"))
from postgres_support import PostgresServer, postgres_server, unavailable_reason  # noqa: E402

FIXTURE = ROOT / "tests" / "relay" / "fixtures" / "error_created.json"
SECRET = "bench-client-secret"
LD_TOKEN = "sandbox-ld-token"
SENTRY_TOKEN = "sandbox-sentry-token"
PROJECT_ID = 4505278496
SCENARIO = f"""
name = "relay-bench"
[[launchdarkly.tokens]]
value = "{LD_TOKEN}"
[[launchdarkly.projects]]
key = "default"
environments = ["production"]
[sentry]
organization = "acme"
[[sentry.tokens]]
value = "{SENTRY_TOKEN}"
[[sentry.projects]]
slug = "web-frontend"
id = {PROJECT_ID}
environments = ["production"]
"""


def config_text(url: str) -> str:
    """The ldsentry configuration pointing both APIs at the emulator."""
    return f"""
[launchdarkly]
base_url = "{url}"
[sentry]
organization = "acme"
base_url = "{url}"
[[mapping]]
sentry_project = "web-frontend"
sentry_environment = "production"
ld_project = "default"
ld_environment = "production"
"""


# The fields the relay reads, and little else: the "small" payload (about 1 KB).
SMALL_FIELDS = ("event_id", "project", "environment", "tags", "contexts", "datetime", "timestamp", "title", "level")


def webhooks(count: int, tag: str, payload: str = "real") -> list[tuple[str, bytes]]:
    """(context key, raw HTTP request) for count distinct signed error.created webhooks."""
    document = json.loads(FIXTURE.read_text())
    event = document["data"]["error"]
    if payload == "small":
        event = {name: event[name] for name in SMALL_FIELDS}
        document["data"]["error"] = event
    event["project"] = PROJECT_ID
    # The relay skips events older than its replay window: the fixture's own time is months old.
    event["timestamp"] = round(time.time(), 3)
    event["datetime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(event["timestamp"]))
    requests = []
    for n in range(count):
        key = f"{tag}-{n}"
        event["event_id"] = hashlib.md5(key.encode()).hexdigest()
        # The project's slug comes from the event's url (no Sentry token needed), as Sentry sends it.
        event["url"] = f"https://sentry.io/api/0/projects/acme/web-frontend/events/{event['event_id']}/"
        event["contexts"]["launchdarklyContext"]["user"]["key"] = key
        body = json.dumps(document).encode()
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        head = (
            "POST /hooks/sentry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Sentry-Hook-Resource: error\r\nSentry-Hook-Signature: {signature}\r\n"
            f"Request-ID: {n:032x}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        requests.append((key, head.encode() + body))
    return requests


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def sustained(ports: list[int], requests: list[bytes], connections: int) -> tuple[float, dict[int, int]]:
    """Send every request as fast as answered over `connections` keep-alive connections, spread over the relays."""
    statuses: dict[int, int] = {}
    queue = iter(requests)

    async def worker(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for request in queue:
            status = await _exchange(reader, writer, request)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(ports[n % len(ports)]) for n in range(connections)))
    return time.perf_counter() - started, statuses


async def paced(
    ports: list[int], requests: list[bytes], rate: float, connections: int
) -> tuple[list[float], list[float], dict[int, int]]:
    """Send request i at start + i/rate; return latencies from the scheduled time, send times, statuses."""
    loop = asyncio.get_running_loop()
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for n in range(connections):  # alternating relays: the pool hands them out in turn
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", ports[n % len(ports)]))
    latencies = [0.0] * len(requests)
    sent_at = [0.0] * len(requests)
    statuses: dict[int, int] = {}
    start = loop.time() + 0.2
    wall_start = time.time() + (start - loop.time())

    async def one(index: int, request: bytes) -> None:
        connection = await pool.get()  # waiting for a free connection counts as latency
        try:
            status = await _exchange(*connection, request)
        finally:
            pool.put_nowait(connection)
        latencies[index] = loop.time() - (start + index / rate)
        statuses[status] = statuses.get(status, 0) + 1

    tasks = []
    for index, request in enumerate(requests):
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        sent_at[index] = wall_start + index / rate
        tasks.append(asyncio.ensure_future(one(index, request)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait()[1].close()
    return latencies, sent_at, statuses


def ack_buckets(ports: list[int]) -> dict[float, int]:
    """The relays' own ack-latency histograms (cumulative counts by upper bound, summed), from /metrics."""
    total: dict[float, int] = {}
    for port in ports:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        found = re.findall(r'^ldsentry_relay_ack_latency_seconds_bucket\{le="([^"]+)"\} (\d+)$', text, flags=re.M)
        for bound, count in found:
            total[float(bound)] = total.get(float(bound), 0) + int(count)
    return total


def bucket_share(before: dict[float, int], after: dict[float, int], share: float) -> float:
    """The smallest bucket bound holding `share` of the observations between two scrapes."""
    total = after[float("inf")] - before[float("inf")]
    for bound in sorted(after):
        if after[bound] - before.get(bound, 0) >= share * total:
            return bound
    return float("inf")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


@dataclass
class Services:
    """The emulator and relay processes of one run."""

    emulator: subprocess.Popen[str]
    relays: list[subprocess.Popen[str]]
    emulator_url: str
    relay_ports: list[int]
    spool: Path | None  # the SQLite file, None for PostgreSQL


# Modules that fail to import, so uvicorn falls back to h11 and asyncio (`--plain`).
_BLOCK = "raise ImportError('blocked by bench/relay.py --plain')\n"


def start_relay(workdir: Path, env: dict[str, str], spool: str) -> tuple[subprocess.Popen[str], int]:
    """One `relay serve` process on a free port; wait until it is ready."""
    relay = subprocess.Popen(
        [sys.executable, "-m", "ld_sentry_cli", "relay", "serve", "--port", "0", "--spool", spool],
        cwd=workdir,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert relay.stderr is not None
    port = None
    deadline = time.monotonic() + 30
    while port is None and time.monotonic() < deadline:
        line = relay.stderr.readline()
        if not line:
            break
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        port = int(found.group(1)) if found else None
    if port is None:
        raise RuntimeError("the relay did not start")
    # Keep reading its log so a full pipe can never block the relay.
    threading.Thread(target=lambda: [None for _ in relay.stderr or ()], daemon=True).start()
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return relay, port


def start(workdir: Path, plain: bool = False, kind: str = "sqlite", postgres_url: str | None = None) -> Services:
    """Start the emulator and the relay(s) of `kind`, and wait until they are ready."""
    scenario = workdir / "scenario.toml"
    scenario.write_text(SCENARIO)
    emulator = subprocess.Popen(
        [sys.executable, "-m", "ld_sentry_cli.sandbox", "--scenario", str(scenario), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert emulator.stdout is not None
    url = emulator.stdout.readline().strip()
    (workdir / "ldsentry.toml").write_text(config_text(url))
    env = {**os.environ, "LD_ACCESS_TOKEN": LD_TOKEN, "SENTRY_CLIENT_SECRET": SECRET}
    env.pop("SENTRY_AUTH_TOKEN", None)  # the relay needs none: webhooks name their project's slug
    if plain:
        blocked = workdir / "blocked"
        blocked.mkdir()
        (blocked / "httptools.py").write_text(_BLOCK)
        (blocked / "uvloop.py").write_text(_BLOCK)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(blocked), env.get("PYTHONPATH")]))
    if kind == "sqlite":
        spool: Path | None = workdir / "spool.db"
        targets = [str(spool)]
    else:
        assert postgres_url is not None
        spool = None
        targets = [postgres_url] * (2 if kind == "postgres2" else 1)
    started = [start_relay(workdir, env, target) for target in targets]
    return Services(emulator, [r for r, _ in started], url, [p for _, p in started], spool)


def stop(services: Services) -> None:
    """SIGTERM the relays (they flush and exit), then the emulator."""
    for relay in services.relays:
        relay.send_signal(signal.SIGTERM)
    for relay in services.relays:
        try:
            relay.wait(30)
        except subprocess.TimeoutExpired:
            relay.kill()
    services.emulator.terminate()
    services.emulator.wait(10)


class WalWatch:
    """The largest size of the SQLite `-wal` file while the run lasts (sampled every 0.2 s)."""

    def __init__(self, spool: Path | None) -> None:
        self.largest = 0
        self._path = None if spool is None else spool.with_name(spool.name + "-wal")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while self._path is not None and not self._stop.wait(0.2):
            with contextlib.suppress(OSError):
                self.largest = max(self.largest, self._path.stat().st_size)

    def stop(self) -> int:
        """Stop watching; the largest size in bytes."""
        self._stop.set()
        self._thread.join()
        return self.largest


def imported(url: str) -> dict[str, float]:
    """Context key → the emulator's receipt time, for every imported event."""
    events = httpx.get(f"{url}/_sandbox/imported-events", timeout=60).json()["events"]
    return {e["event"]["contextKeys"]["user"]: e["receivedAt"] for e in events}


def wait_for(url: str, keys: set[str], timeout: float) -> tuple[float, dict[str, float]]:
    """Poll the emulator until every key is imported; return the wait and the receipts."""
    started = time.monotonic()
    received: dict[str, float] = {}
    while time.monotonic() - started < timeout:
        received = imported(url)
        if keys <= received.keys():
            break
        time.sleep(0.2)
    return time.monotonic() - started, received


def one_run(number: int, args: argparse.Namespace, kind: str, server: PostgresServer | None) -> dict[str, Any]:
    """One complete run of both phases against fresh processes (and a fresh database)."""
    with tempfile.TemporaryDirectory(prefix="ldsentry-relay-bench-") as tmp:
        url = None if server is None else server.create_database(f"bench_{kind}_{number}")
        services = start(Path(tmp), args.plain, kind, url)
        wal = WalWatch(services.spool)
        ports = services.relay_ports
        try:
            load = webhooks(args.requests, f"s{number}", args.payload)
            elapsed, statuses = asyncio.run(sustained(ports, [r for _, r in load], args.connections))
            drain, received = wait_for(services.emulator_url, {k for k, _ in load}, 120)
            forwarded = sum(1 for k, _ in load if k in received)
            paced_count = int(args.rate * args.seconds)
            load2 = webhooks(paced_count, f"p{number}", args.payload)
            before = ack_buckets(ports)
            latencies, sent_at, statuses2 = asyncio.run(
                paced(ports, [r for _, r in load2], args.rate, args.paced_connections)
            )
            after = ack_buckets(ports)
            _, received = wait_for(services.emulator_url, {k for k, _ in load2}, 60)
            lags = [received[k] - sent for (k, _), sent in zip(load2, sent_at, strict=True) if k in received]
        finally:
            stop(services)
            wal_bytes = wal.stop()
    result = {
        "accepted_per_s": statuses.get(202, 0) / elapsed,
        "sustained_statuses": statuses,
        "forwarded": forwarded,
        "drain_after_s": drain,
        "paced_statuses": statuses2,
        "ack_p50_ms": percentile(latencies, 0.50) * 1000,
        "ack_p99_ms": percentile(latencies, 0.99) * 1000,
        "ack_max_ms": max(latencies) * 1000,
        "server_p99_bucket_ms": bucket_share(before, after, 0.99) * 1000,
        "server_max_bucket_ms": bucket_share(before, after, 1.0) * 1000,
        "lag_p50_s": percentile(lags, 0.50),
        "lag_p99_s": percentile(lags, 0.99),
        "lag_max_s": max(lags),
        "lagged_events": len(lags),
        "wal_max_mb": wal_bytes / 1e6,
    }
    shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}
    print(f"{kind} run {number}: {json.dumps(shown)}", flush=True)
    return result


def machine() -> str:
    """CPU model, cores, Python and the HTTP/loop implementations uvicorn will pick."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    extras = []
    for name in ("httptools", "uvloop", "msgspec"):
        try:
            __import__(name)
            extras.append(name)
        except ImportError:
            pass
    return (
        f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, with {', '.join(extras) or 'no speedups'}"
    )


def main() -> int:
    """Run the benchmark and print the Markdown table for BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=30_000, help="webhooks in the sustained phase")
    parser.add_argument("--connections", type=int, default=256, help="connections in the sustained phase")
    parser.add_argument("--rate", type=float, default=1000.0, help="webhooks per second in the paced phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the paced phase")
    parser.add_argument("--paced-connections", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="10,000 webhooks and 10 s paced: a smoke run")
    parser.add_argument("--payload", choices=("real", "small"), default="real", help="11.6 KB fixture or ~1 KB")
    parser.add_argument("--plain", action="store_true", help="without httptools and uvloop (h11 + asyncio)")
    parser.add_argument("--spools", default="sqlite", help="comma-separated: sqlite, postgres, postgres2")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.seconds = 10_000, 10.0
    kinds = [kind.strip() for kind in args.spools.split(",") if kind.strip()]
    unknown = set(kinds) - {"sqlite", "postgres", "postgres2"}
    if unknown:
        parser.error(f"unknown spool kind(s): {', '.join(sorted(unknown))}")
    results: dict[str, list[dict[str, Any]]] = {}
    with contextlib.ExitStack() as stack:
        server = None
        if any(kind.startswith("postgres") for kind in kinds):
            reason = unavailable_reason()
            if reason is not None:
                parser.error(reason)
            server = stack.enter_context(postgres_server(durable=True))
        for kind in kinds:
            results[kind] = [one_run(n + 1, args, kind, server) for n in range(args.runs)]

    print()
    print(f"Machine: {machine()}")
    size = len(webhooks(1, "size", args.payload)[0][1])
    print(
        f"Payload: {args.payload} ({size} bytes per request); uvicorn with "
        f"{'h11 + asyncio' if args.plain else 'httptools + uvloop'}"
    )
    print(
        f"Runs: {args.runs} per spool; sustained: {args.requests} webhooks over {args.connections} connections; "
        f"paced: {args.rate:.0f}/s for {args.seconds:.0f} s over {args.paced_connections} connections"
    )
    rate = f"{args.rate:,.0f}/s"
    rows = [
        ("accepted webhooks/s (sustained)", "accepted_per_s", "{:.0f}"),
        ("forwarder done after the last ack (s)", "drain_after_s", "{:.2f}"),
        (f"ack latency p50 at {rate} (ms)", "ack_p50_ms", "{:.1f}"),
        (f"ack latency p99 at {rate} (ms)", "ack_p99_ms", "{:.1f}"),
        (f"ack latency max at {rate} (ms)", "ack_max_ms", "{:.1f}"),
        ("relays' own histogram: p99 within (ms)", "server_p99_bucket_ms", "≤ {:.0f}"),
        (f"forwarding lag p50 at {rate} (s)", "lag_p50_s", "{:.2f}"),
        (f"forwarding lag p99 at {rate} (s)", "lag_p99_s", "{:.2f}"),
        (f"forwarding lag max at {rate} (s)", "lag_max_s", "{:.2f}"),
        ("largest SQLite -wal file (MB)", "wal_max_mb", "{:.1f}"),
    ]
    names = {"sqlite": "SQLite, 1 relay", "postgres": "PostgreSQL, 1 relay", "postgres2": "PostgreSQL, 2 relays"}
    print()
    print("| measure | " + " | ".join(names[k] for k in kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for label, key, fmt in rows:
        cells = []
        for kind in kinds:
            values = [r[key] for r in results[kind]]
            runs = f" ({', '.join(fmt.format(v) for v in values)})" if len(values) > 1 else ""
            cells.append(fmt.format(statistics.median(values)) + runs)
        print(f"| {label} | " + " | ".join(cells) + " |")
    complete = all(
        r["forwarded"] == args.requests and r["lagged_events"] == int(args.rate * args.seconds)
        for runs in results.values()
        for r in runs
    )
    print()
    print("every event forwarded:", "yes" if complete else "NO")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
