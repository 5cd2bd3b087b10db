"""The live commands through CliRunner, over real HTTP to the emulator on loopback."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from emulator_support import Emulator
from support import METRIC_POST_BODY, FakeTime
from typer.testing import CliRunner

from ld_sentry_cli.cli import app
from ld_sentry_cli.cli.live import instance_note
from ld_sentry_cli.sandbox import FaultPlan, FaultRule, build_app, load_demo_scenario, serve_in_thread
from ld_sentry_cli.sandbox.scenario import SentryToken

RED_MESSAGE = "No custom metric has event key 'sentry-errors'; run `ldsentry metric create`."


def run_json(runner: CliRunner, *args: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, [*args, "--output", "json"])
    return result.exit_code, json.loads(result.stdout)


def test_status_red_then_create_then_green(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    code, before = run_json(runner, "status")
    created = runner.invoke(app, ["metric", "create"])
    again = runner.invoke(app, ["metric", "create"])
    code_after, after = run_json(runner, "status")

    assert code == 1
    assert before["ok"] is False
    assert before["summary"] == {"green": 2, "amber": 0, "red": 3}
    rows = before["mappings"]
    assert isinstance(rows, list)
    assert [(r["sentry_project"], r["sentry_environment"], r["status"]) for r in rows] == [
        ("web-frontend", "production", "red"),
        ("web-frontend", "staging", "red"),
        ("checkout-api", "production", "green"),
        ("checkout-api", "staging", "green"),
        ("mobile-app", "production", "red"),
    ]
    assert rows[0]["problems"] == [{"code": "metric_missing", "severity": "red", "message": RED_MESSAGE}]
    assert rows[0]["metric"] is None
    assert rows[2]["metric"]["key"] == "sentry-errors"
    assert rows[4]["problems"][0]["code"] == "metric_archived"
    assert created.exit_code == 0
    assert sorted(emulator.sandbox.metric_keys("default")).count("sentry-errors") == 1
    assert again.exit_code == 0
    assert again.stderr == "Nothing to create: every project already has a usable metric.\n"
    assert code_after == 0
    assert after["summary"] == {"green": 5, "amber": 0, "red": 0}


def test_status_minimum_requests(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    result = runner.invoke(app, ["status", "-o", "json"])

    routes = sorted(f"{r.method} {r.path}?{r.query}" for r in emulator.sandbox.requests())
    assert result.exit_code == 1
    # The mapped projects through the list's `keys` filter; one metrics request per project filtered by
    # event key (checkout's 120 metrics included); experimentation settings where a metric is graded;
    # Sentry's project list and hidden environments; `production` is hidden in checkout-web, so each
    # project that maps a `production` is asked for its own list (the summary may not say it is visible).
    event_keys = "filter=eventKeys+anyOf+%5B%22sentry-errors%22%5D&limit=50&offset=0"
    assert routes == sorted(
        [
            "GET /api/v2/projects?filter=keys%3Adefault%7Ccheckout%7Cmobile&expand=environments&limit=20&offset=0",
            f"GET /api/v2/metrics/default?{event_keys}",
            f"GET /api/v2/metrics/checkout?{event_keys}",
            f"GET /api/v2/metrics/mobile?{event_keys}",
            "GET /api/v2/projects/checkout/experimentation-settings?",
            "GET /api/0/organizations/acme/projects/?per_page=100",
            "GET /api/0/organizations/acme/environments/?visibility=hidden",
            "GET /api/0/projects/acme/checkout-api/environments/?visibility=all",
            "GET /api/0/projects/acme/mobile-app/environments/?visibility=all",
            "GET /api/0/projects/acme/web-frontend/environments/?visibility=all",
        ]
    )


def test_status_table_text(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    result = runner.invoke(app, ["status"])

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert "2 green, 0 amber, 3 red" in lines
    assert any(
        line.split() == ["│", "✗", "RED", "│", "web-frontend/production", "│", "default/production", "│", "—", "│"]
        for line in lines
    )
    assert "✗ RED web-frontend/production → default/production" in lines
    assert f"    metric_missing: {RED_MESSAGE}" in lines


def test_status_without_sentry_token_checks_launchdarkly_only(
    runner: CliRunner, emulator: Emulator, demo_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTRY_AUTH_TOKEN")

    code, document = run_json(runner, "status")
    required = runner.invoke(app, ["status", "--require-sentry"])

    assert code == 1
    assert document["notes"] == [
        {
            "code": "sentry_unchecked",
            "severity": "note",
            "message": "The Sentry side was not checked (SENTRY_AUTH_TOKEN is not set); set SENTRY_AUTH_TOKEN "
            "and `[sentry] organization` to check it.",
        }
    ]
    assert not any(r.path.startswith("/api/0/") for r in emulator.sandbox.requests())
    assert required.exit_code == 2
    assert required.stderr.startswith("error: No Sentry auth token: set SENTRY_AUTH_TOKEN.\n")


def test_status_sentry_environment_misspelled(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    text = demo_config.read_text(encoding="utf-8").replace(
        'sentry_environment = "staging"', 'sentry_environment = "stagin"', 1
    )
    demo_config.write_text(text, encoding="utf-8")

    code, document = run_json(runner, "status")

    row = document["mappings"][1]  # type: ignore[index]
    assert code == 1
    assert row["status"] == "red"
    assert row["problems"][-1] == {
        "code": "sentry_environment_missing",
        "severity": "red",
        "message": "Sentry project 'web-frontend' has no environment 'stagin' (did you mean 'staging'?); fix "
        "`sentry_environment` in the mapping (Sentry creates an environment with its first event).",
    }


def test_status_auth_failure_is_exit_3_without_token(
    runner: CliRunner, emulator: Emulator, demo_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LD_ACCESS_TOKEN", "api-00000000-1111-2222-3333-444444444444")

    result = runner.invoke(app, ["--debug", "status"])
    as_json = runner.invoke(app, ["status", "-o", "json"])

    assert result.exit_code == 3
    # The project list and the first metrics request go at once: either may be the one refused first.
    assert re.search(
        r"^error: LaunchDarkly rejected the token \(HTTP 401 on GET /api/v2/(projects|metrics/default)\): "
        r"Invalid access token \(unauthorized\)$",
        result.stderr,
        re.MULTILINE,
    ), result.stderr
    assert "api-00000000-1111-2222-3333-444444444444" not in result.stdout + result.stderr
    assert json.loads(as_json.stdout)["error"]["code"] == "auth_failed"


def test_metric_check_rows_per_project(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    code, document = run_json(runner, "metric", "check")
    only, named = run_json(runner, "metric", "check", "--ld-project", "checkout")

    assert code == 1
    assert [(p["ld_project"], p["status"]) for p in document["projects"]] == [  # type: ignore[union-attr]
        ("default", "red"),
        ("checkout", "green"),
        ("mobile", "red"),
    ]
    assert only == 0
    assert [p["ld_project"] for p in named["projects"]] == ["checkout"]  # type: ignore[union-attr]


def test_metric_check_unknown_project_suggests(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    code, document = run_json(runner, "metric", "check", "--ld-project", "chekout")

    assert code == 1
    assert document["projects"][0]["problems"][0]["message"] == (  # type: ignore[index]
        "LaunchDarkly project 'chekout' does not exist (did you mean 'checkout'?); fix `ld_project` in the "
        "mappings that name it."
    )


def test_metric_create_dry_run_sends_nothing(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    code, document = run_json(runner, "metric", "create", "--dry-run")

    assert code == 0
    assert not any(r.method == "POST" for r in emulator.sandbox.requests())
    projects = {p["ld_project"]: p for p in document["projects"]}  # type: ignore[union-attr]
    assert projects["checkout"]["action"] == "present"
    assert projects["default"]["action"] == "would_create"
    assert projects["default"]["body"] == METRIC_POST_BODY


def test_metric_create_key_clash_names_the_metric(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    text = demo_config.read_text(encoding="utf-8").replace('# key = "sentry-errors"', 'key = "sentry-errors-old"')
    demo_config.write_text(text, encoding="utf-8")

    code, document = run_json(runner, "metric", "create", "--ld-project", "mobile")

    result = document["projects"][0]  # type: ignore[index]
    assert code == 1
    assert result["action"] == "conflict"
    assert "sentry-errors-old" in result["message"]
    assert result["message"].endswith("set `[metric] key` to another key.")


def test_events_check_classifies(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    code, document = run_json(runner, "events", "check", "--max-events", "20", "--event-rate", "200")

    rows = {(r["sentry_project"], r["sentry_environment"]): r for r in document["mappings"]}  # type: ignore[union-attr]
    web = rows[("web-frontend", "production")]
    assert code == 1
    assert document["since"] == "24h"
    assert (web["sampled"], web["usable"], web["missing"], web["misnamed"], web["invalid"]) == (14, 6, 3, 3, 2)
    assert set(web["examples"]) == {"missing", "misnamed", "invalid"}
    misnamed = next(p for p in web["problems"] if p["code"] == "events_misnamed_context")
    assert "'launchDarklyContext' → 'launchdarklyContext'" in misnamed["message"]
    assert rows[("checkout-api", "production")]["status"] == "green"


def test_events_check_filter_and_bad_period(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    code, document = run_json(
        runner, "events", "check", "--mapping-filter", "checkout-api/production", "--event-rate", "200"
    )
    bad = runner.invoke(app, ["events", "check", "--since", "yesterday"])
    none = runner.invoke(app, ["events", "check", "--mapping-filter", "nothing/*"])

    assert code == 0
    assert [r["sentry_project"] for r in document["mappings"]] == ["checkout-api"]  # type: ignore[union-attr]
    assert bad.exit_code == 2
    assert "'yesterday' is not a period such as 30m, 24h or 7d" in bad.stderr
    assert none.exit_code == 2
    assert none.stderr.startswith("error: no mapping matches the filter\n")


def test_doctor_all_good(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    code, document = run_json(runner, "doctor")

    assert code == 0
    assert [(c["name"], c["status"]) for c in document["checks"]] == [  # type: ignore[union-attr]
        ("Configuration", "ok"),
        ("LaunchDarkly token", "ok"),
        ("LaunchDarkly instance", "ok"),
        ("Hosted Sentry integration", "ok"),
        ("Sentry instance", "ok"),
        ("Sentry token", "ok"),
        ("Data scrubbing", "ok"),
        ("Flag change tracking", "warn"),  # optional: not set up in the demo scenario
    ]


def test_doctor_names_what_is_missing(runner: CliRunner, demo_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_AUTH_TOKEN", "sntrys_eyJpYXQiOjE3MDB9_secretpart")
    monkeypatch.setenv("LD_BASE_URI", "https://app.eu.launchdarkly.com")

    code, document = run_json(runner, "doctor")

    checks = {c["name"]: c for c in document["checks"]}  # type: ignore[union-attr]
    assert code == 1
    assert checks["LaunchDarkly token"]["message"] == (
        "No LaunchDarkly access token: set LD_ACCESS_TOKEN or LAUNCHDARKLY_ACCESS_TOKEN."
    )
    assert checks["Sentry token"]["status"] == "fail"
    assert "org:ci" in checks["Sentry token"]["message"]
    assert "secretpart" not in json.dumps(document)


def test_doctor_missing_scope(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:

    scenario = load_demo_scenario()
    sentry = scenario.sentry
    narrowed = type(sentry)(**{**sentry.__dict__, "tokens": (SentryToken("sandbox-sentry-token", ("org:read",)),)})
    with serve_in_thread(build_app(type(scenario)(**{**scenario.__dict__, "sentry": narrowed}))) as server:
        result = runner.invoke(app, ["doctor", "-o", "json"], env={"SENTRY_URL": server.url})

    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert result.exit_code == 1
    assert checks["Sentry token"]["message"] == "accepted, but missing scopes: project:read, event:read"


def test_demo_runs_and_cleans_up(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_ACCESS_TOKEN", "keep-me")

    result = runner.invoke(app, ["demo"])

    assert result.exit_code == 0, result.output
    assert "Step 6 of 10: ldsentry events check" in result.stdout
    assert "Step 7 of 10: ldsentry mappings discover" in result.stdout
    assert "mobile-app/staging" in result.stdout
    assert "Step 10 of 10: a flag changes in LaunchDarkly (default/production: new-checkout-flow)" in result.stdout
    assert "Sentry answered 200" in result.stdout
    assert "Sentry's flag log: updateOn of 'new-checkout-flow' by sandbox@example.com." in result.stdout
    assert "5 green, 0 amber, 0 red" in result.stdout
    assert result.stdout.rstrip().endswith("to try commands by hand against the emulator.")
    folder = result.stdout.split("a copy of sample-config.toml is at ")[1].split("/ldsentry.toml")[0]
    assert not Path(folder.replace("\n", "")).exists()

    assert os.environ["LD_ACCESS_TOKEN"] == "keep-me"


def test_bundled_demo_config_is_the_sample(demo_config: Path) -> None:
    bundled = Path(__file__).resolve().parents[1] / "ld_sentry_cli" / "sandbox" / "scenarios" / "demo-config.toml"

    assert bundled.read_bytes() == demo_config.read_bytes()


NEW = ["--sentry-project", "web-frontend", "--sentry-environment", "beta", "--ld-project", "default"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "--sentry-project",
                "web-frontend",
                "--sentry-environment",
                "staging",
                "--ld-project",
                "chekout",
                "--ld-environment",
                "staging",
            ],
            "LaunchDarkly project 'chekout' does not exist (did you mean 'checkout'?)",
        ),
        (
            [
                "--sentry-project",
                "web-frontend",
                "--sentry-environment",
                "staging",
                "--ld-project",
                "checkout",
                "--ld-environment",
                "prod",
            ],
            "LaunchDarkly project 'checkout' has no environment 'prod' (did you mean 'production'?)",
        ),
        (
            [
                "--sentry-project",
                "web-fronted",
                "--sentry-environment",
                "staging",
                "--ld-project",
                "checkout",
                "--ld-environment",
                "staging",
            ],
            "Sentry project 'web-fronted' does not exist (did you mean 'web-frontend'?)",
        ),
        (
            [
                "--sentry-project",
                "checkout-api",
                "--sentry-environment",
                "stagin",
                "--ld-project",
                "checkout",
                "--ld-environment",
                "staging",
            ],
            "Sentry project 'checkout-api' has no environment 'stagin' (did you mean 'staging'?); Sentry creates "
            "an environment with its first event, so send one first if it is new",
        ),
    ],
    ids=["ld-project", "ld-environment", "sentry-project", "sentry-environment"],
)
def test_mappings_create_verifies_with_suggestions(
    runner: CliRunner, emulator: Emulator, isolated_env: Path, args: list[str], message: str
) -> None:
    runner.invoke(app, ["init", "--sentry-organization", "acme"])
    before = (isolated_env / "ldsentry.toml").read_bytes()

    result = runner.invoke(app, ["mappings", "create", *args])

    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\nhint: Fix the name, or pass --no-verify to write the mapping anyway.\n"
    assert (isolated_env / "ldsentry.toml").read_bytes() == before


def test_mappings_create_verified_and_unverified(
    runner: CliRunner, emulator: Emulator, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.invoke(app, ["init", "--sentry-organization", "acme"])
    good = [
        "--sentry-project",
        "checkout-api",
        "--sentry-environment",
        "staging",
        "--ld-project",
        "checkout",
        "--ld-environment",
        "staging",
    ]

    verified = runner.invoke(app, ["mappings", "create", *good, "-o", "json"])
    forced = runner.invoke(app, ["mappings", "create", *NEW, "--ld-environment", "nowhere", "--no-verify"])
    monkeypatch.delenv("LD_ACCESS_TOKEN")
    demanded = runner.invoke(app, ["mappings", "create", *NEW, "--ld-environment", "x", "--verify"])

    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["created"]["ld_project"] == "checkout"
    assert forced.exit_code == 0
    assert forced.stderr == ""
    assert demanded.exit_code == 2
    assert demanded.stderr.startswith("error: No LaunchDarkly access token: set LD_ACCESS_TOKEN or LAUNCHDARKLY")


def test_mappings_create_without_token_says_it_was_not_verified(runner: CliRunner, isolated_env: Path) -> None:
    runner.invoke(app, ["init"])

    result = runner.invoke(app, ["mappings", "create", *NEW, "--ld-environment", "production"])

    assert result.exit_code == 0
    assert result.stderr == (
        "note: not verified against LaunchDarkly (LD_ACCESS_TOKEN is not set); `ldsentry status` will check it\n"
    )


def test_no_token_or_sdk_key_reaches_any_output(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    outputs = []
    for args in (
        ["--debug", "status"],
        ["--debug", "status", "-o", "json"],
        ["--debug", "metric", "check", "-o", "json"],
        ["--debug", "doctor"],
        ["--debug", "events", "check", "--max-events", "5", "--event-rate", "200"],
    ):
        result = runner.invoke(app, args)
        outputs.append(result.stdout + result.stderr)
    everything = "\n".join(outputs)

    assert (
        "debug: ldsentry.http: GET /api/v2/projects?filter=keys%3Adefault%7Ccheckout%7Cmobile&expand=environments"
        in everything
    )
    assert "sandbox-ld-token" not in everything
    assert "sandbox-sentry-token" not in everything
    # The emulator's environments carry SDK and mobile keys; the client drops them at the boundary,
    # so they are not even there to be masked.
    assert "sdk-" not in everything
    assert "mob-" not in everything
    assert "[REDACTED]" not in everything


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://app.launchdarkly.com", None),
        ("https://app.eu.launchdarkly.com", "EU"),
        ("https://app.launchdarkly.us", "federal"),
    ],
)
def test_instance_note_for_eu_and_federal(base_url: str, expected: str | None) -> None:

    note = instance_note(base_url)

    if expected is None:
        assert note is None
    else:
        assert note is not None
        assert note.code == "integration_unavailable"
        assert note.message.startswith(
            f"LaunchDarkly's hosted Sentry integration is not offered on the {expected} instance ({base_url})"
        )


def test_permanent_server_errors_exit_3_with_one_line(
    runner: CliRunner, emulator: Emulator, demo_config: Path, instant_backoff: FakeTime
) -> None:

    emulator.sandbox.set_faults(FaultPlan(seed=1, default=FaultRule(server_errors=1.0)))

    result = runner.invoke(app, ["metric", "check", "--ld-project", "checkout"])

    assert result.exit_code == 3
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    failed = re.fullmatch(
        r"error: LaunchDarkly had a server error after 5 attempts "
        r"\(HTTP 50[0-4] on GET (/api/v2/projects|/api/v2/metrics/checkout)\): .+",
        lines[0],
    )
    assert failed, lines[0]
    assert "Traceback" not in result.stderr
    assert [r.path for r in emulator.sandbox.requests()].count(failed.group(1)) == 5
    # Exponential backoff between the attempts (the metrics request retries alongside), none of it waited for.
    assert sorted(set(instant_backoff.sleeps)) == [0.2, 0.4, 0.8, 1.6]
