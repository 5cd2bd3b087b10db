"""End to end: the installed `ldsentry` executable against the emulator served by uvicorn on loopback."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from emulator_support import LD_TOKEN, demo_emulator, emulator_env

from ld_sentry_cli.sandbox import FaultPlan, FaultRule, build_app, load_demo_scenario, serve_in_thread
from ld_sentry_cli.sandbox.app import Sandbox
from ld_sentry_cli.sandbox.scenario import LdToken

SAMPLE = Path(__file__).resolve().parents[2] / "sample-config.toml"
INSTANT_BACKOFF = Path(__file__).resolve().parent / "instant_backoff"


def ldsentry_executable() -> str:
    """The console script installed next to this Python (the venv CI and developers use)."""
    beside = Path(sys.executable).with_name("ldsentry")
    found = str(beside) if beside.exists() else shutil.which("ldsentry")
    if not found:
        pytest.fail("the ldsentry executable is not installed; run `pip install .` first")
    return found


@dataclasses.dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, object]:
        document: dict[str, object] = json.loads(self.stdout)
        return document


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copyfile(SAMPLE, tmp_path / "ldsentry.toml")
    return tmp_path


def ldsentry(
    workdir: Path, url: str, *args: str, ld_token: str = LD_TOKEN, timeout: float = 60, instant_backoff: bool = False
) -> Run:
    """Run the installed executable with only the variables a user would set.

    With instant_backoff, Python also loads tests/e2e/instant_backoff/sitecustomize.py at start-up: the
    retries happen, but their waits do not (for the tests that provoke dozens of them).
    """
    env = {**user_env(workdir), **emulator_env(url), "LD_ACCESS_TOKEN": ld_token}
    if instant_backoff:
        env["PYTHONPATH"] = str(INSTANT_BACKOFF)
    return run_executable(workdir, env, *args, timeout=timeout)


def user_env(home: Path) -> dict[str, str]:
    """What a user's shell has that ldsentry reads, and nothing from the test run: PATH, HOME, no colour."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "NO_COLOR": "1"}


def run_executable(cwd: Path, env: dict[str, str], *args: str, timeout: float) -> Run:
    """Run the installed executable in `cwd` with exactly `env`."""
    done = subprocess.run(
        [ldsentry_executable(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, str]]:
    with demo_emulator() as running:
        yield running.sandbox, running.url


def test_red_create_green_flow(served: tuple[Sandbox, str], workdir: Path) -> None:
    sandbox, url = served

    before = ldsentry(workdir, url, "status", "--output", "json")
    dry = ldsentry(workdir, url, "metric", "create", "--dry-run", "--output", "json")
    created = ldsentry(workdir, url, "metric", "create")
    second = ldsentry(workdir, url, "metric", "create", "--output", "json")
    after = ldsentry(workdir, url, "status", "--output", "json")

    assert before.code == 1
    assert before.json()["summary"] == {"green": 2, "amber": 0, "red": 3}
    assert dry.code == 0
    assert sorted(p["ld_project"] for p in dry.json()["projects"] if p["action"] == "would_create") == [  # type: ignore[union-attr]
        "default",
        "mobile",
    ]
    assert created.code == 0, created.stderr
    assert second.code == 0
    assert {p["action"] for p in second.json()["projects"]} == {"present"}  # type: ignore[union-attr]
    assert after.code == 0
    assert after.json()["summary"] == {"green": 5, "amber": 0, "red": 0}
    posts = [r for r in sandbox.requests() if r.method == "POST"]
    assert sorted(r.path for r in posts) == ["/api/v2/metrics/default", "/api/v2/metrics/mobile"]
    assert {r.ld_api_version for r in sandbox.requests(service="launchdarkly")} == {"20240415"}


def test_matching_metric_on_page_three_in_one_filtered_request(served: tuple[Sandbox, str], workdir: Path) -> None:
    sandbox, url = served

    run = ldsentry(workdir, url, "metric", "check", "--ld-project", "checkout", "--output", "json")

    pages = [r.query for r in sandbox.requests() if r.path == "/api/v2/metrics/checkout"]
    assert run.code == 0
    assert run.json()["projects"][0]["metrics"][0]["key"] == "sentry-errors"  # type: ignore[index]
    assert pages == ["filter=eventKeys+anyOf+%5B%22sentry-errors%22%5D&limit=50&offset=0"]


def test_matching_metric_on_page_three_when_the_filter_is_ignored(workdir: Path) -> None:
    scenario = load_demo_scenario()
    scenario = dataclasses.replace(
        scenario, launchdarkly=dataclasses.replace(scenario.launchdarkly, event_keys_filter="ignored")
    )
    sandbox = build_app(scenario)
    with serve_in_thread(sandbox) as server:
        run = ldsentry(workdir, server.url, "metric", "check", "--ld-project", "checkout", "--output", "json")

    pages = [r.query for r in sandbox.requests() if r.path == "/api/v2/metrics/checkout"]
    assert run.code == 0
    assert run.json()["projects"][0]["metrics"][0]["key"] == "sentry-errors"  # type: ignore[index]
    # The ignored filter's answer is the first page; the rest are asked without it.
    assert sorted(pages) == [
        "filter=eventKeys+anyOf+%5B%22sentry-errors%22%5D&limit=50&offset=0",
        "limit=50&offset=100",
        "limit=50&offset=50",
    ]


@pytest.mark.parametrize(
    "rule",
    [FaultRule(rate_limited=0.4, reset_ms=200), FaultRule(server_errors=0.4)],
    ids=["429-storm", "5xx-burst"],
)
def test_status_survives_faults_with_the_right_answer(workdir: Path, rule: FaultRule) -> None:
    sandbox = build_app(load_demo_scenario(), faults=FaultPlan(seed=7, default=rule))
    with serve_in_thread(sandbox) as server:
        run = ldsentry(workdir, server.url, "status", "--output", "json", instant_backoff=True)

    faults = sum(1 for r in sandbox.requests() if r.status in (429, 500, 502, 503, 504))
    assert faults >= 3, "the storm must really happen"
    assert run.code == 1, run.stderr
    assert run.json()["summary"] == {"green": 2, "amber": 0, "red": 3}


def test_permanent_401_exits_3_without_echoing_the_token(served: tuple[Sandbox, str], workdir: Path) -> None:
    _, url = served
    wrong = "api-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"

    run = ldsentry(workdir, url, "--debug", "status", ld_token=wrong)
    as_json = ldsentry(workdir, url, "status", "--output", "json", ld_token=wrong)

    assert run.code == 3
    assert "error: LaunchDarkly rejected the token (HTTP 401" in run.stderr
    assert "Traceback" not in run.stderr
    assert wrong not in run.stdout + run.stderr + as_json.stdout + as_json.stderr
    assert as_json.code == 3
    assert as_json.json()["error"]["code"] == "auth_failed"  # type: ignore[index]


def test_permanent_403_exits_3(workdir: Path) -> None:
    scenario = load_demo_scenario()
    tokens = (*scenario.launchdarkly.tokens, LdToken("sandbox-no-access", access="none"))
    scenario = dataclasses.replace(scenario, launchdarkly=dataclasses.replace(scenario.launchdarkly, tokens=tokens))
    with serve_in_thread(build_app(scenario)) as server:
        run = ldsentry(workdir, server.url, "status", "--output", "json", ld_token="sandbox-no-access")

    assert run.code == 3
    error = run.json()["error"]
    assert error["code"] == "permission_denied"  # type: ignore[index]
    assert "sandbox-no-access" not in run.stdout + run.stderr


def test_connection_refused(workdir: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    run = ldsentry(workdir, f"http://127.0.0.1:{port}", "metric", "check", "--output", "json", instant_backoff=True)

    assert run.code == 3
    error = run.json()["error"]
    assert error["code"] == "network_error"  # type: ignore[index]
    assert error["message"].startswith(f"Could not reach LaunchDarkly at 127.0.0.1:{port}")  # type: ignore[index]


def test_events_check_and_doctor_json(served: tuple[Sandbox, str], workdir: Path) -> None:
    _, url = served

    events = ldsentry(workdir, url, "events", "check", "--max-events", "10", "--event-rate", "100", "--output", "json")
    doctor = ldsentry(workdir, url, "doctor", "--output", "json")

    assert events.code == 1
    assert events.json()["ok"] is False
    assert all(isinstance(row["sampled"], int) for row in events.json()["mappings"])  # type: ignore[union-attr]
    assert doctor.code == 0
    assert doctor.json()["ok"] is True


def test_sandbox_serve_prints_exports_and_serves(workdir: Path) -> None:
    process = subprocess.Popen(
        [ldsentry_executable(), "sandbox", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert process.stdout is not None
        exports = [process.stdout.readline().strip() for _ in range(5)]
        url = exports[0].removeprefix("export LD_BASE_URI=")
        run = ldsentry(workdir, url, "status", "--output", "json")
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert exports[0].startswith("export LD_BASE_URI=http://127.0.0.1:")
    assert exports[2:] == [
        "export LD_ACCESS_TOKEN=sandbox-ld-token",
        "export SENTRY_AUTH_TOKEN=sandbox-sentry-token",
        "export SENTRY_ORG=acme",
    ]
    assert run.code == 1


def test_demo_exits_zero(tmp_path: Path) -> None:
    run = run_executable(tmp_path, user_env(tmp_path), "demo", timeout=120)

    assert run.code == 0, run.stdout[-2000:] + run.stderr
    assert "Step 10 of 10" in run.stdout
    assert list(tmp_path.iterdir()) == []


def test_tracking_setup_check_and_signed_delivery(served: tuple[Sandbox, str], workdir: Path) -> None:
    sandbox, url = served

    dry = ldsentry(workdir, url, "tracking", "setup", "--dry-run", "--register-in-sentry", "--output", "json")
    red = ldsentry(workdir, url, "tracking", "check", "--output", "json")
    created = ldsentry(workdir, url, "tracking", "setup", "--register-in-sentry")
    again = ldsentry(workdir, url, "tracking", "setup", "--register-in-sentry", "--output", "json")
    green = ldsentry(workdir, url, "tracking", "check", "--output", "json")
    change = {"project": "checkout", "environment": "staging", "flag": "new-flow"}
    delivered = httpx.post(f"{url}/_sandbox/flag-change", json=change).json()

    secret = next(iter(sandbox.state.tracking.webhooks.values())).document["secret"]
    assert dry.code == 0
    assert dry.json()["action"] == "would_create"
    assert dry.json()["sentry"]["request"]["body"] == {"provider": "launchdarkly", "secret": "[REDACTED]"}  # type: ignore[index]
    assert red.code == 1
    assert red.json()["status"] == "red"
    assert created.code == 0, created.stderr
    assert created.stderr.startswith("warning: --register-in-sentry uses Sentry's POST ")
    assert again.code == 0
    assert again.json()["action"] == "unchanged"
    assert again.json()["requests"] == []
    assert green.code == 0
    assert green.json()["status"] == "green"
    assert sandbox.state.tracking.signing_secrets["launchdarkly"].secret == secret
    assert [(d["signed"], d["status"]) for d in delivered["deliveries"]] == [(True, 200)]
    for run in (dry, red, created, again, green):
        assert secret not in run.stdout + run.stderr
    writes = [f"{r.method} {r.path}" for r in sandbox.requests() if r.method in ("POST", "PATCH")]
    assert writes == [
        "POST /api/v2/webhooks",
        "POST /api/0/organizations/acme/flags/signing-secrets/",
        "POST /api/0/organizations/acme/flags/hooks/provider/launchdarkly/",
    ]
