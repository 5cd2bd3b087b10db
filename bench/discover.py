"""How many requests `ldsentry mappings discover` makes, against the minimum, and how long it takes.

    python bench/discover.py [--runs 5] [--latency-ms 40]

The emulator serves 250 Sentry projects (60 named like a LaunchDarkly project, one in ten with a
hidden environment) and 60 LaunchDarkly projects of three environments each, with latency added to
every request. The minimum: the Sentry project list (pages of 100), one organization environments
request, the LaunchDarkly project list with environments (pages of 20), and a project's own
environments only where a hidden name would have gone to a LaunchDarkly environment (none here).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ld_sentry_cli.sandbox import build_app, serve_in_thread

SENTRY_PROJECTS = 250
LD_PROJECTS = 60


def scenario(latency_ms: int) -> dict[str, Any]:
    """The generated organization."""
    ld = [{"key": f"svc-{i:03d}", "environments": ["production", "staging", "development"]} for i in range(LD_PROJECTS)]
    sentry: list[dict[str, Any]] = []
    for i in range(SENTRY_PROJECTS):
        slug = f"svc-{i:03d}-api" if i < LD_PROJECTS else f"other-{i:03d}"
        project: dict[str, Any] = {"slug": slug, "id": 4507000000 + i, "environments": ["production", "staging"]}
        if i % 10 == 0:
            project["hidden_environments"] = ["old"]
        sentry.append(project)
    return {
        "faults": {"latency_ms": latency_ms},
        "launchdarkly": {"tokens": [{"value": "bench-ld"}], "projects": ld},
        "sentry": {
            "organization": "acme",
            "projects_page_size": 100,
            "tokens": [{"value": "bench-sentry"}],
            "projects": sentry,
        },
    }


def main() -> None:
    """Run discover several times and print requests, the minimum and median wall time."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=40)
    args = parser.parse_args()
    minimum = math.ceil(SENTRY_PROJECTS / 100) + 1 + math.ceil(LD_PROJECTS / 20)
    sandbox = build_app(scenario(args.latency_ms))
    executable = str(Path(sys.executable).with_name("ldsentry"))
    with tempfile.TemporaryDirectory() as folder, serve_in_thread(sandbox) as server:
        Path(folder, "ldsentry.toml").write_text('[sentry]\norganization = "acme"\n', encoding="utf-8")
        env = {
            **os.environ,
            "LD_BASE_URI": server.url,
            "SENTRY_URL": server.url,
            "LD_ACCESS_TOKEN": "bench-ld",
            "SENTRY_AUTH_TOKEN": "bench-sentry",
            "SENTRY_ORG": "acme",
        }
        walls, counts = [], []
        for _ in range(args.runs):
            sandbox.reset()
            started = time.perf_counter()
            done = subprocess.run(
                [executable, "mappings", "discover", "-o", "json"],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            walls.append(time.perf_counter() - started)
            counts.append(len(sandbox.requests()))
            proposals = len(json.loads(done.stdout)["proposals"])
    print(f"proposals: {proposals}")
    print(f"requests made: {counts} (minimum {minimum})")
    print(f"wall time, median of {args.runs}: {statistics.median(walls):.2f} s at {args.latency_ms} ms per request")


if __name__ == "__main__":
    main()
