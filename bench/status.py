"""Benchmark `ldsentry status` at scale against the emulator, on both request paths.

    python bench/status.py            # about five minutes on a 2-core machine; prints Markdown

What it measures (BENCHMARKS.md explains the method and records the figures):
- requests made by one `status` run against the fewest the APIs allow on its path: LaunchDarkly's
  `keys` and `eventKeys` filters honoured, or ignored (the emulator's switches), at 40 and 150 ms;
- wall time against the lower bound, against the same requests from a bare script on the same
  stack, and against a naive serial client;
- peak memory of the `status` process.

Start-up (`--version`, `validate`) has its own benchmark: bench/startup.py.

Everything runs on loopback: the emulator is a separate process on 127.0.0.1 with added latency.
"""

from __future__ import annotations

import argparse
import asyncio
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
PROJECTS_PAGE = 20  # LaunchDarkly's documented default page of projects: ldsentry's group of keys
SENTRY_PAGE = 100  # Sentry's maximum per_page for the project list
PATHS = {
    # The emulator's switches (sandbox README): what LaunchDarkly does with the list filters.
    "honoured": {},
    "ignored": {"project_keys_filter": "ignored", "event_keys_filter": "ignored"},
}
EVENT_FILTER = f'eventKeys anyOf ["{EVENT_KEY}"]'

Request = tuple[str, dict[str, Any]]  # path, query
Group = list[Request]  # sent at once
Chain = list[Group]  # one group after the other
Step = list[Chain]  # chains at once; a service's steps one after the other


@dataclass(frozen=True)
class World:
    """The generated scenario, the config that maps it, and what the answer must be."""

    scenario: dict[str, Any]
    config: str
    metric_counts: dict[str, int]  # LaunchDarkly project -> number of metrics, in account order
    with_metric: frozenset[str]  # LaunchDarkly projects that have the metric
    ld_keys: list[str]  # distinct LaunchDarkly projects in mapping order (the order ldsentry asks)
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
    # Mappings name the projects in another order than the account lists them, as a real config
    # would: an ignored `keys` filter's page is then not by chance the group that asked.
    order = rng.sample(range(ld_projects), ld_projects)
    environments_per_project = math.ceil(mappings / sentry_projects)
    sentry: list[dict[str, Any]] = [
        {
            "slug": f"service-{n:03d}",
            "id": 1000 + n,
            "environments": [f"env-{e}" for e in range(environments_per_project)],
        }
        for n in range(sentry_projects)
    ]
    lines = [f'[sentry]\norganization = "{ORG}"\n\n[metric]\nevent_key = "{EVENT_KEY}"\n']
    red = 0
    ld_keys: list[str] = []
    for i in range(mappings):
        ld_key = projects[order[i % ld_projects]]["key"]
        if ld_key not in ld_keys:
            ld_keys.append(ld_key)
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
    return World(
        scenario,
        "\n".join(lines),
        metric_counts,
        frozenset(metric_counts) - without_metric,
        ld_keys,
        [p["slug"] for p in sentry],
        red,
        mappings,
    )


def request_plan(world: World, path: str) -> dict[str, list[Step]]:
    """The fewest requests `status` can make on a path, with their dependencies, per service.

    LaunchDarkly, filters honoured: the projects list filtered by key, a page per group of 20 keys
    (the first group's answer decides the run, so it goes first); one metrics request per project,
    filtered by event key (the first one decides the run, so it goes first); then the project's
    experimentation settings if it has the metric. Filters ignored: the first group's answer holds
    20 of the account's projects and each other project is asked on its own; each project's metrics
    are paged in full (the ignored filter's first page is a valid first page; the rest at once once
    `totalCount` is known), then its settings. Sentry, either way: the organization's project list
    (pages of 100) and its hidden environments, both at once; no project's environments needed.
    """
    keys = world.ld_keys
    ld_filter = {"expand": "environments", "limit": PROJECTS_PAGE, "offset": 0}
    groups = [keys[start : start + PROJECTS_PAGE] for start in range(0, len(keys), PROJECTS_PAGE)]

    def projects(group: list[str]) -> Request:
        return "/api/v2/projects", {"filter": "keys:" + "|".join(group), **ld_filter}

    def metrics(key: str, offset: int, filtered: bool) -> Request:
        query: dict[str, Any] = {"limit": METRICS_PAGE, "offset": offset}
        return f"/api/v2/metrics/{key}", ({"filter": EVENT_FILTER, **query} if filtered else query)

    def settings(key: str) -> Chain:
        return [[(f"/api/v2/projects/{key}/experimentation-settings", {})]] if key in world.with_metric else []

    def rest_of_metrics(key: str) -> Chain:
        rest = [metrics(key, offset, False) for offset in range(METRICS_PAGE, world.metric_counts[key], METRICS_PAGE)]
        return [rest] if rest else []

    first, others = keys[0], keys[1:]
    if path == "honoured":
        ld_steps: list[Step] = [
            [[[projects(groups[0])]], [[metrics(first, 0, True)]]],
            [[[projects(group)]] for group in groups[1:]]
            + [settings(first)]
            + [[[metrics(key, 0, True)], *settings(key)] for key in others],
        ]
    else:
        given = set(list(world.metric_counts)[:PROJECTS_PAGE])  # the account's first page
        ld_steps = [
            [[[projects(groups[0])]], [[metrics(first, 0, True)]]],
            [[[(f"/api/v2/projects/{key}", {"expand": "environments"})]] for key in keys if key not in given]
            + [rest_of_metrics(first) + settings(first)]
            + [[[metrics(key, 0, False)], *rest_of_metrics(key), *settings(key)] for key in others],
        ]
    sentry_pages = [
        (f"/api/0/organizations/{ORG}/projects/", {"per_page": SENTRY_PAGE})
        for _ in range(math.ceil(len(world.sentry_projects) / SENTRY_PAGE))
    ]
    hidden = (f"/api/0/organizations/{ORG}/environments/", {"visibility": "hidden"})
    sentry_steps: list[Step] = [[[[page] for page in sentry_pages[:1]], [[hidden]]]]
    if len(sentry_pages) > 1:
        sentry_steps.append([[[page] for page in sentry_pages[1:]]])
    return {"ld": [step for step in ld_steps if step], "sentry": sentry_steps}


def plan_size(plan: dict[str, list[Step]]) -> dict[str, int]:
    """Requests per service in a plan."""
    return {
        service: sum(len(group) for step in steps for chain in step for group in chain)
        for service, steps in plan.items()
    }


def plan_chain(plan: dict[str, list[Step]]) -> int:
    """The longest run of requests that wait for one another, across services."""
    return max(sum(max((len(chain) for chain in step), default=0) for step in steps) for steps in plan.values())


def ldsentry() -> str:
    """The installed console script next to this Python."""
    return str(Path(sys.executable).with_name("ldsentry"))


@dataclass(frozen=True)
class Timing:
    """One run of a command: wall and CPU seconds, peak RSS in KiB, stdout, when it started, its exit code."""

    wall: float
    cpu: float
    peak_kib: int
    output: str
    started: float  # time.time() at launch, to compare with the emulator's request log
    code: int


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
    return Timing(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, output, started_epoch, process.returncode)


def start_emulator(world: World, path: str, latency_ms: float, folder: Path) -> tuple[subprocess.Popen[str], str]:
    """The emulator in its own process (its own core), on a path's switches, with latency added to every request."""
    scenario = json.loads(json.dumps(world.scenario))
    scenario["launchdarkly"].update(PATHS[path])
    scenario["faults"] = {"latency_ms": latency_ms}
    scenario_path = folder / f"scenario-{path}-{latency_ms:.0f}.toml"
    scenario_path.write_text(tomlkit.dumps(scenario), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "ld_sentry_cli.sandbox", "--scenario", str(scenario_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    httpx.get(f"{url}/_sandbox/health", timeout=10).raise_for_status()
    return process, url


HEADERS = {
    "ld": {"Authorization": LD_TOKEN, "LD-API-Version": "20240415"},
    "sentry": {"Authorization": f"Bearer {SENTRY_TOKEN}"},
}


def naive_serial(url: str, plan: dict[str, list[Step]]) -> float:
    """One request at a time over the same plan (a shell loop, or ldsentry at concurrency 1)."""
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=30) as client:
        for service, steps in plan.items():
            for step in steps:
                for chain in step:
                    for group in chain:
                        for path, params in group:
                            client.get(path, params=params, headers=HEADERS[service]).raise_for_status()
    return time.perf_counter() - started


# The same plan as `status`, as concurrently (8 per service, each service's steps in order, each chain's
# groups in order), from a fresh interpreter that imports only the stack (typer, httpx as ldsentry
# imports it, asyncio) and parses nothing: the wall time any command on this stack needs on this machine.
STACK_FLOOR = """
import sys
import asyncio, json, typer, httpx
url, concurrency, plan, headers = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])

async def main():
    limits = {service: asyncio.Semaphore(concurrency) for service in plan}
    async with httpx.AsyncClient(base_url=url) as client:
        async def get(service, path, params):
            async with limits[service]:
                response = await client.get(path, params=params, headers=headers[service])
                response.raise_for_status()
                return response.content
        async def chain(service, groups):
            for group in groups:
                await asyncio.gather(*(get(service, path, params) for path, params in group))
        async def steps(service):
            for step in plan[service]:
                await asyncio.gather(*(chain(service, groups) for groups in step))
        await asyncio.gather(*(steps(service) for service in plan))

asyncio.run(main())
"""


def stack_floor(url: str, plan: dict[str, list[Step]], concurrency: int, env: dict[str, str], cwd: Path) -> Timing:
    """One run of STACK_FLOOR against the emulator; a failed run stops the benchmark (its time would mean nothing)."""
    command = [sys.executable, "-c", STACK_FLOOR, url, str(concurrency), json.dumps(plan), json.dumps(HEADERS)]
    run = timed(command, env, cwd)
    if run.code != 0:
        raise SystemExit(f"the bare script failed (exit {run.code}): its requests do not match the emulator's")
    return run


def bare_client_cpu_per_request(url: str, requests: int, concurrency: int) -> float:
    """CPU seconds per request of a bare httpx.AsyncClient (httpx's own transport, as ldsentry uses)."""

    async def run() -> float:
        async with httpx.AsyncClient(base_url=url) as client:
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


@dataclass(frozen=True)
class Measured:
    """One path at one latency: medians over the runs, and what the plan allows."""

    path: str
    latency_ms: float
    requests: float
    plan: dict[str, int]
    chain: int
    wall: float
    bound: float
    floor: float
    server_bound: float
    first_request: float
    cpu: float
    peak_kib: float
    naive: float | None
    bare_cpu: float | None
    document: Any


def measure(
    world: World, path: str, latency_ms: float, *, args: argparse.Namespace, work: Path, env: dict[str, str], full: bool
) -> Measured:
    """Run `status` and the bare script `args.runs` times each against a fresh emulator for one path and latency."""
    plan = request_plan(world, path)
    emulator, url = start_emulator(world, path, latency_ms, work)
    env = {**env, "LD_BASE_URI": url, "SENTRY_URL": url}
    try:
        status = [ldsentry(), "status", "--output", "json", "--concurrency", str(args.concurrency)]
        timed(status, env, work)  # warm the page cache and the emulator
        runs, counts, server_bounds, first_requests, documents, floors = [], [], [], [], [], []
        # Each status run is paired with a bare run right after it, so that a change in the machine's
        # load during the benchmark moves both sides of `status / bare script` alike.
        for _ in range(args.runs):
            httpx.post(f"{url}/_sandbox/reset", timeout=10).raise_for_status()
            run = timed(status, env, work)
            document = json.loads(run.output)
            if document["summary"]["red"] != world.expected_red:
                raise SystemExit(f"wrong answer on {path}: {document['summary']} (expected {world.expected_red} red)")
            documents.append(document)
            counts.append(httpx.get(f"{url}/_sandbox/counters", timeout=10).json()["total"])
            bound_from_server, first_request = server_time_bound(url, args.concurrency)
            server_bounds.append(bound_from_server)
            first_requests.append(first_request - run.started)
            runs.append(run)
            httpx.post(f"{url}/_sandbox/reset", timeout=10).raise_for_status()
            floors.append(stack_floor(url, plan, args.concurrency, env, work).wall)
        if any(document != documents[0] for document in documents):
            raise SystemExit(f"status answered differently from run to run on {path}")
        naive = statistics.median(naive_serial(url, plan) for _ in range(args.naive_runs)) if full else None
        bare_cpu = bare_client_cpu_per_request(url, sum(plan_size(plan).values()), args.concurrency) if full else None
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    sizes = plan_size(plan)
    latency = latency_ms / 1000
    chain = plan_chain(plan)
    # Each service has its own `--concurrency` requests in flight.
    bound = max(chain * latency, max(sizes.values()) / args.concurrency * latency)
    return Measured(
        path=path,
        latency_ms=latency_ms,
        requests=statistics.median(counts),
        plan=sizes,
        chain=chain,
        wall=statistics.median(run.wall for run in runs),
        bound=bound,
        floor=statistics.median(floors),
        server_bound=statistics.median(server_bounds),
        first_request=statistics.median(first_requests),
        cpu=statistics.median(run.cpu for run in runs),
        peak_kib=statistics.median(run.peak_kib for run in runs),
        naive=naive,
        bare_cpu=bare_cpu,
        document=documents[0],
    )


def main() -> int:
    """Run every measurement and print the results as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="status runs per path and latency (median reported)")
    parser.add_argument("--naive-runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=40.0, help="latency of the main table")
    parser.add_argument("--path-latencies", default="40,150", help="latencies (ms) of the paths table")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    world = build_world(ld_projects=100, sentry_projects=60, mappings=500, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="ldsentry-bench-") as folder:
        work = Path(folder)
        (work / "ldsentry.toml").write_text(world.config, encoding="utf-8")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": folder,
            "LD_ACCESS_TOKEN": LD_TOKEN,
            "SENTRY_AUTH_TOKEN": SENTRY_TOKEN,
            "SENTRY_ORG": ORG,
        }
        main_run = measure(world, "honoured", args.latency_ms, args=args, work=work, env=env, full=True)
        paths = []
        for latency_ms in (float(text) for text in args.path_latencies.split(",") if text.strip()):
            for path in PATHS:
                if path == "honoured" and latency_ms == args.latency_ms:
                    paths.append(main_run)
                else:
                    paths.append(measure(world, path, latency_ms, args=args, work=work, env=env, full=False))
        for measured in paths:
            if measured.document != main_run.document:
                raise SystemExit(f"{measured.path} at {measured.latency_ms:.0f} ms graded differently")

    m = main_run
    metrics = sum(world.metric_counts.values())
    print(
        f"Scenario: {world.mappings} mappings, {len(world.metric_counts)} LaunchDarkly projects "
        f"({metrics} metrics; {len(world.with_metric)} with the metric), {len(world.sentry_projects)} Sentry "
        f"projects; --concurrency {args.concurrency}; {args.runs} runs per row; every run graded identically.\n"
    )
    print(f"Filters honoured, {args.latency_ms:.0f} ms added latency:\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| requests made (median) | {m.requests:.0f} |")
    fewest = f"{sum(m.plan.values())} ({m.plan['ld']} LaunchDarkly + {m.plan['sentry']} Sentry)"
    print(f"| fewest requests the APIs allow | {fewest} |")
    print(f"| `status` wall time (median) | {m.wall:.2f} s |")
    print(f"| lower bound from added latency (chain of {m.chain}) | {m.bound:.2f} s |")
    print(f"| wall time / lower bound | {m.wall / m.bound:.2f}× |")
    print(f"| lower bound from the emulator's measured service times | {m.server_bound:.2f} s |")
    floor = f"{m.floor:.2f} s, {m.floor / m.bound:.2f}×"
    print(f"| the same requests from a bare script on the same stack (median) | {floor} |")
    print(f"| time from launch to the first request (median) | {m.first_request:.2f} s |")
    print(f"| CPU time of `status` (user + sys, median) | {m.cpu:.2f} s |")
    assert m.bare_cpu is not None and m.naive is not None
    print(f"| bare httpx client, CPU per request | {m.bare_cpu * 1000:.2f} ms |")
    print(f"| naive serial client (median of {args.naive_runs}) | {m.naive:.2f} s |")
    print(f"| naive serial / `status` | {m.naive / m.wall:.1f}× |")
    print(f"| peak RSS of `status` (median) | {m.peak_kib / 1024:.0f} MiB |")
    print("\nBoth paths (LaunchDarkly's `keys` and `eventKeys` filters honoured, or ignored by the server):\n")
    print(
        "| path | latency | requests made | fewest allowed (LD + Sentry) | wall | bound | wall / bound "
        "| bare script | bare script / bound | **`status` / bare script** |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p in paths:
        print(
            f"| {p.path} | {p.latency_ms:.0f} ms | {p.requests:.0f} | {sum(p.plan.values())} "
            f"({p.plan['ld']} + {p.plan['sentry']}) | {p.wall:.2f} s | {p.bound:.2f} s | {p.wall / p.bound:.2f}× "
            f"| {p.floor:.2f} s | {p.floor / p.bound:.2f}× | **{p.wall / p.floor:.2f}×** |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
