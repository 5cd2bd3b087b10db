"""Benchmark `ldsentry status` at scale against the emulator, and ldsentry's start-up.

    python bench/status.py            # about two minutes on a 2-core machine; prints Markdown

What it measures (BENCHMARKS.md explains the method and records the figures):
- requests made by one `status` run against the minimum the APIs allow;
- wall time against the lower bound and against a naive serial client;
- peak memory of the `status` process;
- start-up: `ldsentry --version` and `ldsentry validate` (1,000 mappings) against `import typer`.

Everything runs on loopback: the emulator is a separate process on 127.0.0.1 with added latency.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import tomlkit

LD_TOKEN = "sandbox-ld-token"
SENTRY_TOKEN = "sandbox-sentry-token"
ORG = "acme"
EVENT_KEY = "sentry-errors"
METRICS_PAGE = 50  # LaunchDarkly's cap on `limit` for metrics
SENTRY_PAGE = 100  # Sentry's maximum per_page for the project list


@dataclass(frozen=True)
class World:
    """The generated scenario, the config that maps it, and what the answer must be."""

    scenario: dict[str, Any]
    config: str
    metric_counts: dict[str, int]  # LaunchDarkly project -> number of metrics
    sentry_projects: list[str]
    expected_red: int
    mappings: int


def build_world(ld_projects: int, sentry_projects: int, mappings: int, seed: int) -> World:
    """100 LaunchDarkly projects with 1-120 metrics, 60 Sentry projects, 500 mappings (by default)."""
    rng = random.Random(seed)
    projects = []
    metric_counts: dict[str, int] = {}
    without_metric: set[str] = set()
    for n in range(ld_projects):
        key = f"ld-project-{n:03d}"
        count = rng.randint(1, 120)
        metric_counts[key] = count
        project: dict[str, Any] = {"key": key, "environments": ["production", "staging"]}
        if rng.random() < 0.2:  # one in five lacks the metric: those mappings are red
            without_metric.add(key)
            project["filler_metrics"] = count
        else:  # the matching metric is the last one, on the last page
            project["filler_metrics"] = count - 1
            project["metrics"] = [{"key": EVENT_KEY, "kind": "custom", "event_key": EVENT_KEY}]
        projects.append(project)
    environments_per_project = math.ceil(mappings / sentry_projects)
    sentry = [
        {
            "slug": f"service-{n:03d}",
            "id": 1000 + n,
            "environments": [f"env-{e}" for e in range(environments_per_project)],
        }
        for n in range(sentry_projects)
    ]
    lines = [f'[sentry]\norganization = "{ORG}"\n\n[metric]\nevent_key = "{EVENT_KEY}"\n']
    red = 0
    for i in range(mappings):
        ld_key = projects[i % ld_projects]["key"]
        red += ld_key in without_metric
        lines.append(
            "[[mapping]]\n"
            f'sentry_project = "{sentry[i % sentry_projects]["slug"]}"\n'
            f'sentry_environment = "env-{i // sentry_projects}"\n'
            f'ld_project = "{ld_key}"\n'
            f'ld_environment = "{"production" if i % 2 else "staging"}"\n'
        )
    scenario = {
        "name": "benchmark",
        "launchdarkly": {"tokens": [{"value": LD_TOKEN}], "projects": projects},
        "sentry": {
            "organization": ORG,
            "projects_page_size": SENTRY_PAGE,
            "tokens": [{"value": SENTRY_TOKEN}],
            "projects": sentry,
        },
    }
    return World(scenario, "\n".join(lines), metric_counts, [p["slug"] for p in sentry], red, mappings)


def minimum_requests(world: World) -> tuple[int, int]:
    """The fewest requests that can answer `status`: (LaunchDarkly, Sentry).

    Per LaunchDarkly project: one project request (with environments) and ceil(metrics / 50) metric
    pages. Sentry: the organization's project list (pages of 100) and one environments request per
    Sentry project.
    """
    launchdarkly = sum(1 + math.ceil(count / METRICS_PAGE) for count in world.metric_counts.values())
    sentry = math.ceil(len(world.sentry_projects) / SENTRY_PAGE) + len(world.sentry_projects)
    return launchdarkly, sentry


def ldsentry() -> str:
    """The installed console script next to this Python."""
    return str(Path(sys.executable).with_name("ldsentry"))


@dataclass(frozen=True)
class Timing:
    """One run of a command: wall and CPU seconds, peak RSS in KiB, stdout, and when it started."""

    wall: float
    cpu: float
    peak_kib: int
    output: str
    started: float  # time.time() at launch, to compare with the emulator's request log


def timed(command: list[str], env: dict[str, str], cwd: Path) -> Timing:
    """Run command and measure it (wait4 gives the child's own CPU time and peak memory)."""
    started_epoch = time.time()
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Timing(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, output, started_epoch)


def start_emulator(scenario_path: Path, latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    """The emulator in its own process (its own core), with latency added to every request."""
    text = scenario_path.read_text(encoding="utf-8")
    scenario_path.write_text(text + f"\n[faults]\nlatency_ms = {latency_ms}\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "ld_sentry_cli.sandbox", "--scenario", str(scenario_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    httpx.get(f"{url}/_sandbox/health", timeout=10).raise_for_status()
    return process, url


def naive_serial(url: str, world: World) -> float:
    """One request at a time over the same minimal request set (a shell loop, or a plan at concurrency 1)."""
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=30) as client:
        ld = {"Authorization": LD_TOKEN, "LD-API-Version": "20240415"}
        for key, count in world.metric_counts.items():
            client.get(f"/api/v2/projects/{key}", params={"expand": "environments"}, headers=ld).raise_for_status()
            for offset in range(0, max(count, 1), METRICS_PAGE):
                params = {"limit": METRICS_PAGE, "offset": offset}
                client.get(f"/api/v2/metrics/{key}", params=params, headers=ld).raise_for_status()
        sentry = {"Authorization": f"Bearer {SENTRY_TOKEN}"}
        client.get(f"/api/0/organizations/{ORG}/projects/", params={"per_page": SENTRY_PAGE}, headers=sentry)
        for slug in world.sentry_projects:
            path = f"/api/0/projects/{ORG}/{slug}/environments/"
            client.get(path, params={"visibility": "all"}, headers=sentry).raise_for_status()
    return time.perf_counter() - started


# The same minimal requests as `status`, as concurrently (8 per service, a project's first metrics page
# before the others, the Sentry project list before the environments), from a fresh interpreter that
# imports only the stack (typer, httpx as ldsentry imports it, asyncio, ldsentry's transport) and
# parses nothing: the wall time any command on this stack needs on this machine.
STACK_FLOOR = """
import sys, types
sys.modules.setdefault("httpx._main", types.ModuleType("httpx._main"))
import asyncio, json, typer, httpx
from ld_sentry_cli.http_transport import Http11Transport
url, concurrency, world = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
ld_token, sentry_token, org = world["ld_token"], "Bearer " + world["sentry_token"], world["org"]

async def main():
    ld_limit, sentry_limit = asyncio.Semaphore(concurrency), asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, transport=Http11Transport()) as client:
        async def get(limit, path, params, token):
            async with limit:
                response = await client.get(path, params=params, headers={"Authorization": token})
                response.raise_for_status()
                return response.content
        async def metrics(key, count):
            await get(ld_limit, f"/api/v2/metrics/{key}", {"limit": 50, "offset": 0}, ld_token)
            await asyncio.gather(*(get(ld_limit, f"/api/v2/metrics/{key}", {"limit": 50, "offset": offset},
                                       ld_token) for offset in range(50, count, 50)))
        async def sentry():
            await get(sentry_limit, f"/api/0/organizations/{org}/projects/", {"per_page": 100}, sentry_token)
            await asyncio.gather(*(get(sentry_limit, f"/api/0/projects/{org}/{slug}/environments/",
                                       {"visibility": "all"}, sentry_token) for slug in world["sentry"]))
        ld = [get(ld_limit, f"/api/v2/projects/{key}", {"expand": "environments"}, ld_token)
              for key in world["ld"]]
        await asyncio.gather(sentry(), *ld, *(metrics(key, count) for key, count in world["ld"].items()))

asyncio.run(main())
"""


def stack_floor(url: str, world: World, concurrency: int, env: dict[str, str], cwd: Path) -> Timing:
    """One run of STACK_FLOOR against the emulator."""
    plan = json.dumps(
        {
            "ld": world.metric_counts,
            "sentry": world.sentry_projects,
            "ld_token": LD_TOKEN,
            "sentry_token": SENTRY_TOKEN,
            "org": ORG,
        }
    )
    return timed([sys.executable, "-c", STACK_FLOOR, url, str(concurrency), plan], env, cwd)


def median_time(command: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    """Median wall time of command over runs."""
    return statistics.median(timed(command, env, cwd).wall for _ in range(runs))


def bare_client_cpu_per_request(url: str, requests: int, concurrency: int, *, lean: bool) -> float:
    """CPU seconds per request of a bare httpx.AsyncClient with httpx's transport or ldsentry's (`lean`)."""
    import asyncio

    from ld_sentry_cli.http_transport import Http11Transport

    async def run() -> float:
        async with httpx.AsyncClient(base_url=url, transport=Http11Transport() if lean else None) as client:
            limit = asyncio.Semaphore(concurrency)

            async def one() -> None:
                async with limit:
                    (await client.get("/_sandbox/health")).raise_for_status()

            await one()
            cpu = time.process_time()
            await asyncio.gather(*(one() for _ in range(requests)))
            return (time.process_time() - cpu) / requests

    return asyncio.run(run())


def server_time_bound(url: str, concurrency: int) -> tuple[float, float]:
    """(Bound from the emulator's measured service times, seconds before the first request arrived)."""
    log = httpx.get(f"{url}/_sandbox/requests", timeout=10).json()
    records = log if isinstance(log, list) else log["requests"]
    per_service: dict[str, float] = {}
    for record in records:
        per_service[record["service"]] = per_service.get(record["service"], 0.0) + record["duration_ms"] / 1000
    return max(per_service.values()) / concurrency, min(record["started_at"] for record in records)


def main() -> int:
    """Run every measurement and print the results as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="status runs (median reported)")
    parser.add_argument("--naive-runs", type=int, default=3)
    parser.add_argument("--startup-runs", type=int, default=15)
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    world = build_world(ld_projects=100, sentry_projects=60, mappings=500, seed=args.seed)
    big = build_world(ld_projects=100, sentry_projects=60, mappings=1000, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="ldsentry-bench-") as folder:
        work = Path(folder)
        (work / "ldsentry.toml").write_text(world.config, encoding="utf-8")
        (work / "big.toml").write_text(big.config, encoding="utf-8")
        scenario_path = work / "scenario.toml"
        scenario_path.write_text(tomlkit.dumps(world.scenario), encoding="utf-8")
        emulator, url = start_emulator(scenario_path, args.latency_ms)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": folder,
            "LD_BASE_URI": url,
            "SENTRY_URL": url,
            "LD_ACCESS_TOKEN": LD_TOKEN,
            "SENTRY_AUTH_TOKEN": SENTRY_TOKEN,
            "SENTRY_ORG": ORG,
        }
        try:
            status = [ldsentry(), "status", "--output", "json", "--concurrency", str(args.concurrency)]
            timed(status, env, work)  # warm the page cache and the emulator
            runs, counts, server_bounds, first_requests = [], [], [], []
            for _ in range(args.runs):
                httpx.post(f"{url}/_sandbox/reset", timeout=10).raise_for_status()
                run = timed(status, env, work)
                summary = json.loads(run.output)["summary"]
                if summary["red"] != world.expected_red:
                    raise SystemExit(f"wrong answer: {summary} (expected {world.expected_red} red)")
                counts.append(httpx.get(f"{url}/_sandbox/counters", timeout=10).json()["total"])
                bound_from_server, first_request = server_time_bound(url, args.concurrency)
                server_bounds.append(bound_from_server)
                first_requests.append(first_request - run.started)
                runs.append(run)
            floors = []
            for _ in range(args.runs):
                httpx.post(f"{url}/_sandbox/reset", timeout=10).raise_for_status()
                floors.append(stack_floor(url, world, args.concurrency, env, work).wall)
            naive = statistics.median(naive_serial(url, world) for _ in range(args.naive_runs))
            bare_cpu = bare_client_cpu_per_request(url, 351, args.concurrency, lean=False)
            lean_cpu = bare_client_cpu_per_request(url, 351, args.concurrency, lean=True)
        finally:
            emulator.terminate()
            emulator.wait(timeout=10)
        version = median_time([ldsentry(), "--version"], env, work, args.startup_runs)
        typer_import = median_time([sys.executable, "-c", "import typer"], env, work, args.startup_runs)
        validate = median_time([ldsentry(), "validate", "--config", "big.toml"], env, work, args.startup_runs)

    ld_min, sentry_min = minimum_requests(world)
    latency = args.latency_ms / 1000
    chain = 2  # a metrics page 1 before the others; the Sentry project list before environments
    bound = max(chain * latency, max(ld_min, sentry_min) / args.concurrency * latency)
    wall = statistics.median(run.wall for run in runs)
    cpu = statistics.median(run.cpu for run in runs)
    requests = statistics.median(counts)
    print(
        f"Scenario: {world.mappings} mappings, {len(world.metric_counts)} LaunchDarkly projects "
        f"({sum(world.metric_counts.values())} metrics), {len(world.sentry_projects)} Sentry projects; "
        f"{args.latency_ms:.0f} ms added latency; --concurrency {args.concurrency}; {args.runs} runs.\n"
    )
    print("| measure | value |")
    print("|---|---|")
    print(f"| requests made (median) | {requests:.0f} |")
    print(f"| minimum requests | {ld_min + sentry_min} ({ld_min} LaunchDarkly + {sentry_min} Sentry) |")
    print(f"| `status` wall time (median) | {wall:.2f} s |")
    print(f"| lower bound from added latency | {bound:.2f} s |")
    print(f"| wall time / lower bound | {wall / bound:.2f}× |")
    print(f"| lower bound from the emulator's measured service times | {statistics.median(server_bounds):.2f} s |")
    floor = statistics.median(floors)
    print(f"| the same requests from a bare script on the same stack (median) | {floor:.2f} s, {floor / bound:.2f}× |")
    print(f"| time from launch to the first request (median) | {statistics.median(first_requests):.2f} s |")
    print(f"| CPU time of `status` (user + sys, median) | {cpu:.2f} s |")
    print(f"| bare httpx client, CPU per request: httpx's transport | {bare_cpu * 1000:.2f} ms |")
    print(f"| bare httpx client, CPU per request: ldsentry's transport | {lean_cpu * 1000:.2f} ms |")
    print(f"| naive serial client (median of {args.naive_runs}) | {naive:.2f} s |")
    print(f"| naive serial / `status` | {naive / wall:.1f}× |")
    print(f"| peak RSS of `status` (median) | {statistics.median(run.peak_kib for run in runs) / 1024:.0f} MiB |")
    print(f"| `ldsentry --version` (median of {args.startup_runs}) | {version * 1000:.0f} ms |")
    print(f"| `python -c 'import typer'` | {typer_import * 1000:.0f} ms |")
    print(f"| `--version` / `import typer` | {version / typer_import:.2f}× |")
    print(f"| `ldsentry validate`, 1,000 mappings | {validate * 1000:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
