"""The scrubbing audit in `events check` and `doctor`, over real HTTP against the emulator's scrubbing settings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from contracts import validate_request
from emulator_support import LD_TOKEN, SENTRY_TOKEN, Emulator, emulator_in_use
from typer.testing import CliRunner

from ld_sentry_cli.cli import app

SAFE = (
    "Add `contexts.launchdarklyContext.**` to Safe Fields in Sentry (Settings → Projects → {slug} → "
    "Security & Privacy), or rename the attribute in the LaunchDarkly context."
)


def project(slug: str, number: int, contexts: dict[str, object], scrubbing: dict[str, object]) -> dict[str, object]:
    event = {"age": "1h", "environment": "production", "count": 2, "contexts": contexts}
    return {
        "slug": slug,
        "id": 4506000000 + number,
        "environments": ["production"],
        "events": [event],
        "scrubbing": scrubbing,
    }


# One project per way Sentry scrubs a context, each with sampled events as Sentry would store them.
SCENARIO = {
    "launchdarkly": {
        "tokens": [{"value": LD_TOKEN}],
        "projects": [{"key": "app", "environments": ["production"]}],
    },
    "sentry": {
        "organization": "acme",
        "tokens": [{"value": SENTRY_TOKEN}],
        "organization_scrubbing": {"sensitive_fields": ["plan"]},
        "projects": [
            # An "Additional Sensitive Fields" entry that matches `key`.
            project(
                "keys", 1, {"launchdarklyContext": {"kind": "user", "key": "[Filtered]"}}, {"sensitive_fields": ["key"]}
            ),
            # IP addresses replaced in every value: devices keyed by their address.
            project(
                "devices",
                2,
                {"launchdarklyContext": {"kind": "device", "key": "[ip]"}, "flags": {"values": []}},
                {"scrub_ip_addresses": True},
            ),
            # The default rules filter `authLevel`; the organization's sensitive field filters `plan`.
            project(
                "attributes",
                3,
                {
                    "launchdarklyContext": {
                        "kind": "user",
                        "key": "u-1",
                        "authLevel": "[Filtered]",
                        "plan": "[Filtered]",
                    }
                },
                {},
            ),
            # The whole context is a safe field: nothing to report.
            project(
                "exempt",
                4,
                {"launchdarklyContext": {"kind": "user", "key": "u-2", "authLevel": "admin"}},
                {"safe_fields": ["contexts.launchdarklyContext.**"]},
            ),
        ],
    },
}

CONFIG = '[sentry]\norganization = "acme"\n' + "".join(
    f'\n[[mapping]]\nsentry_project = "{slug}"\nsentry_environment = "production"\nld_project = "app"\n'
    'ld_environment = "production"\n'
    for slug in ("keys", "devices", "attributes", "exempt")
)


@pytest.fixture
def scrubbed(monkeypatch: pytest.MonkeyPatch, isolated_env: Path) -> Iterator[Emulator]:
    """The scrubbing scenario on loopback, the environment pointing at it, ./ldsentry.toml mapping all four."""
    (isolated_env / "ldsentry.toml").write_text(CONFIG, encoding="utf-8")
    with emulator_in_use(monkeypatch, SCENARIO) as running:
        yield running


def rows(runner: CliRunner) -> tuple[int, dict[str, dict[str, object]]]:
    result = runner.invoke(app, ["events", "check", "--event-rate", "1000", "--output", "json"])
    document = json.loads(result.stdout)
    return result.exit_code, {row["sentry_project"]: row for row in document["mappings"]}


def problems(row: dict[str, object]) -> dict[str, str]:
    return {p["code"]: p["message"] for p in row["problems"]}  # type: ignore[attr-defined,index]


def test_each_scrubbed_case_names_the_setting_and_the_fix(runner: CliRunner, scrubbed: Emulator) -> None:
    code, found = rows(runner)

    assert code == 1
    assert problems(found["keys"])["context_scrubbed"] == (
        "Sentry's data scrubbing in project 'keys' filtered the 'launchdarklyContext' members LaunchDarkly needs in "
        "sampled events: 'key' by sensitiveFields (the project's Additional Sensitive Fields (sensitiveFields) "
        "include 'key'). Remove 'key' from them, or: " + SAFE.format(slug="keys")
    )
    assert problems(found["devices"])["context_scrubbed"] == (
        "Sentry's data scrubbing in project 'devices' filtered the 'launchdarklyContext' members LaunchDarkly needs "
        "in sampled events: 'key' by scrubIPAddresses (Prevent Storing of IP Addresses (scrubIPAddresses) replaced "
        "an IP address in it with '[ip]'). " + SAFE.format(slug="devices")
    )
    assert problems(found["attributes"]) == {
        "context_at_risk": (
            "Under the current data scrubbing settings of project 'attributes', Sentry would filter these "
            "'launchdarklyContext' members: 'authLevel' by dataScrubberDefaults (Sentry's default scrubbing rules "
            "filter every value whose key contains 'auth'); 'plan' by sensitiveFields (the organization's Additional "
            "Sensitive Fields (sensitiveFields) include 'plan'). Remove 'plan' from them, or: "
            + SAFE.format(slug="attributes")
        )
    }
    assert found["attributes"]["status"] == "amber"
    assert problems(found["exempt"]) == {}
    assert found["exempt"]["scrubbing"] == {"organization_known": True, "exempt": True, "risks": []}  # type: ignore[comparison-overlap]


def test_flags_share_is_informational(runner: CliRunner, scrubbed: Emulator) -> None:
    _, found = rows(runner)

    assert (found["devices"]["with_flags"], found["devices"]["flags_share"]) == (2, 1.0)
    assert (found["exempt"]["with_flags"], found["exempt"]["flags_share"]) == (0, 0.0)
    assert found["exempt"]["status"] == "green"


def test_settings_are_read_once_per_project_and_once_for_the_organization(
    runner: CliRunner, scrubbed: Emulator
) -> None:
    runner.invoke(app, ["events", "check", "--event-rate", "1000"])

    records = scrubbed.sandbox.requests()
    for record in records:
        validate_request("sentry", record.method, record.path, parse_qsl(record.query))
    details = sorted(
        r.path for r in records if not r.path.endswith(("/events/", "/projects/")) and "/events/" not in r.path
    )
    assert details == [
        "/api/0/organizations/acme/",
        "/api/0/projects/acme/attributes/",
        "/api/0/projects/acme/devices/",
        "/api/0/projects/acme/exempt/",
        "/api/0/projects/acme/keys/",
    ]


def test_table_and_markdown_show_the_flags_column(runner: CliRunner, scrubbed: Emulator) -> None:
    table = runner.invoke(app, ["events", "check", "--event-rate", "1000"], env={"COLUMNS": "200"})
    markdown = runner.invoke(app, ["events", "check", "--event-rate", "1000", "--output", "markdown"])

    assert "Flags %" in table.stdout
    assert (
        "| Status | Sentry project/env | LaunchDarkly project/env | Sampled | Usable | Flags | Line | Problems |"
        in (markdown.stdout)
    )
    assert "| ✓ GREEN | exempt/production | app/production | 2 | 100% | 0% |" in markdown.stdout


def test_doctor_fails_the_scrubbing_row_when_kind_or_key_would_be_filtered(
    runner: CliRunner, scrubbed: Emulator
) -> None:
    result = runner.invoke(app, ["doctor", "--output", "json"])

    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert result.exit_code == 1
    assert checks["Data scrubbing"] == {
        "name": "Data scrubbing",
        "status": "fail",
        "message": "Sentry would filter launchdarklyContext's kind or key: keys: key by sensitiveFields",
        "hint": "Run `ldsentry events check` for the exact setting and fix per mapping.",
    }


def test_doctor_scrubbing_row_is_ok_on_the_demo(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    result = runner.invoke(app, ["doctor", "--output", "json"])

    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert result.exit_code == 0
    assert checks["Data scrubbing"]["message"] == (
        "no setting filters launchdarklyContext's kind or key in 3 mapped projects"
    )
