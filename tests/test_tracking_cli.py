"""`ldsentry tracking setup|check` through CliRunner, over real HTTP to the emulator on loopback."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulator_support import LD_TOKEN, Emulator
from typer.testing import CliRunner

from ld_sentry_cli.cli import app
from ld_sentry_cli.sandbox.tracking_world import SigningSecret

HOOK_PATH = "/api/0/organizations/acme/flags/hooks/provider/launchdarkly/"
LD = {"Authorization": LD_TOKEN}
MAPPED = [
    "proj/default:env/production:flag/*",
    "proj/default:env/staging:flag/*",
    "proj/checkout:env/production:flag/*",
    "proj/checkout:env/staging:flag/*",
    "proj/mobile:env/production:flag/*",
]
WARNING = (
    "warning: --register-in-sentry uses Sentry's POST /api/0/organizations/acme/flags/signing-secrets/ endpoint, "
    "which is not part of Sentry's public API and may change without notice. Sentry keeps one LaunchDarkly signing "
    "secret per organization: this replaces any secret another LaunchDarkly account already uses, and that "
    "account's flag changes will then be rejected.\n"
)


def invoke(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(app, list(args))


def writes(emulator: Emulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emulator.sandbox.requests() if r.method != "GET"]


def webhooks(emulator: Emulator) -> list[dict[str, Any]]:
    return [record.document for record in emulator.sandbox.state.tracking.webhooks.values()]


def sentry_secret(emulator: Emulator) -> str | None:
    stored = emulator.sandbox.state.tracking.signing_secrets.get("launchdarkly")
    return stored.secret if stored else None


def add_webhook(emulator: Emulator, **fields: Any) -> str:
    body = {"url": emulator.url + HOOK_PATH, "sign": True, "on": True, "tags": [], **fields}
    created = httpx.post(emulator.url + "/api/v2/webhooks", json=body, headers=LD).json()
    return str(created["_id"])


def flag_change(emulator: Emulator, project: str = "default", environment: str = "production") -> dict[str, Any]:
    body = {"project": project, "environment": environment, "flag": "new-checkout"}
    result: dict[str, Any] = httpx.post(emulator.url + "/_sandbox/flag-change", json=body).json()
    return result


def test_check_is_red_without_a_webhook(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    result = invoke(runner, "tracking", "check", "--output", "json")

    document = json.loads(result.stdout)
    assert result.exit_code == 1
    assert document["status"] == "red"
    assert document["webhook"] is None
    assert document["problems"] == [
        {
            "code": "tracking_webhook_missing",
            "severity": "red",
            "message": f"No LaunchDarkly webhook posts flag changes to Sentry's hook URL {emulator.url}{HOOK_PATH}; "
            "run `ldsentry tracking setup`.",
        }
    ]
    assert [e["status"] for e in document["environments"]] == ["red"] * 5


def test_setup_dry_run_shows_bodies_masked_and_sends_nothing(
    runner: CliRunner, emulator: Emulator, demo_config: Path
) -> None:
    result = invoke(runner, "tracking", "setup", "--dry-run", "--register-in-sentry")

    assert result.exit_code == 0, result.stderr
    assert writes(emulator) == []
    assert result.stdout.startswith("Dry run: nothing was sent. These requests would be:\n\n# create a signed")
    assert '"secret": "[REDACTED]"' in result.stdout
    assert 'POST /api/0/organizations/acme/flags/signing-secrets/\n{\n  "provider": "launchdarkly",' in result.stdout
    assert all(resource in result.stdout for resource in MAPPED)
    assert result.stderr == ""  # no warning: nothing is registered


def test_setup_refuses_a_secret_nobody_would_see(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    result = invoke(runner, "tracking", "setup")

    assert result.exit_code == 2
    assert writes(emulator) == []
    assert result.stderr == (
        "error: The webhook gets a new signing secret, and Sentry must receive it or it rejects every delivery; "
        "nothing was sent.\nhint: Add --register-in-sentry to register it through Sentry's API, or --show-secret "
        "to paste it in Sentry's settings yourself (--dry-run shows the requests first).\n"
    )


def test_setup_registers_then_reruns_as_a_no_op_and_check_is_green(
    runner: CliRunner, emulator: Emulator, demo_config: Path
) -> None:
    created = invoke(runner, "tracking", "setup", "--register-in-sentry")
    webhook = webhooks(emulator)[0]
    first_writes = writes(emulator)
    again = invoke(runner, "tracking", "setup", "--register-in-sentry")
    second_writes = writes(emulator)
    check = invoke(runner, "tracking", "check")
    delivery = flag_change(emulator)

    assert created.exit_code == 0, created.stderr
    assert created.stderr == WARNING
    hook_url = emulator.url + HOOK_PATH
    assert created.stdout == (
        f"Created LaunchDarkly webhook {next(iter(emulator.sandbox.state.tracking.webhooks))}: signed, on, tagged "
        f"ldsentry, posting the flag changes of 5 environments to {hook_url}.\n"
        "Registered the new signing secret in Sentry organization 'acme'.\n"
    )
    assert first_writes == ["POST /api/v2/webhooks", "POST /api/0/organizations/acme/flags/signing-secrets/"]
    assert webhook["sign"] is True and webhook["on"] is True and webhook["tags"] == ["ldsentry"]
    assert webhook["statements"] == [{"effect": "allow", "resources": MAPPED, "actions": ["*"]}]
    assert len(webhook["secret"]) == 32
    assert sentry_secret(emulator) == webhook["secret"]
    assert again.exit_code == 0
    assert second_writes == first_writes  # the second run changed nothing
    assert again.stdout.startswith("Nothing to change: LaunchDarkly webhook ")
    assert again.stderr == (
        "note: the webhook keeps its signing secret, which ldsentry never reads back, so there is nothing to "
        "register or show; if Sentry lacks it, run again with --rotate-secret.\n"
    )
    assert check.exit_code == 0
    assert check.stdout.startswith("✓ GREEN tracking\n")
    assert "5 green, 0 amber, 0 red" in check.stdout
    assert [(d["signed"], d["status"]) for d in delivery["deliveries"]] == [(True, 200)]
    assert [e.flag for e in emulator.sandbox.state.tracking.flag_log] == ["new-checkout"]
    for output in (created.stdout, created.stderr, again.stdout, check.stdout):
        assert webhook["secret"] not in output


def test_show_secret_prints_it_once_with_the_ui_steps(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    result = invoke(runner, "tracking", "setup", "--show-secret")

    secret = webhooks(emulator)[0]["secret"]
    assert result.exit_code == 0, result.stderr
    assert sentry_secret(emulator) is None  # nothing registered without --register-in-sentry
    assert f"Signing secret (shown once, stored nowhere by ldsentry): {secret}\n" in result.stdout
    assert result.stdout.endswith(
        "Sentry must hold the same signing secret, or it rejects every delivery (401):\n"
        f"  1. In Sentry, open Settings → Feature Flags → Change Tracking ({emulator.url}/settings/acme/feature-flags/"
        "change-tracking/).\n"
        "  2. Add LaunchDarkly as a provider and paste the signing secret printed above (32 characters).\n"
        "  3. Save. ldsentry keeps no copy of the secret: Sentry and LaunchDarkly hold the only ones.\n"
    )
    # Until Sentry holds it, every delivery is rejected as Sentry would.
    assert [d["status"] for d in flag_change(emulator)["deliveries"]] == [401]


def test_show_secret_in_json(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    result = invoke(runner, "tracking", "setup", "--show-secret", "--output", "json")

    document = json.loads(result.stdout)
    secret = webhooks(emulator)[0]["secret"]
    assert document["secret"] == secret
    assert document["action"] == "created"
    assert document["requests"][0]["body"]["secret"] == "[REDACTED]"
    assert result.stdout.count(secret) == 1


def test_check_amber_for_partial_coverage_then_setup_extends(
    runner: CliRunner, emulator: Emulator, demo_config: Path
) -> None:
    add_webhook(emulator, secret="s" * 32, statements=[{"effect": "allow", "resources": MAPPED[:2], "actions": ["*"]}])

    amber = invoke(runner, "tracking", "check", "--output", "json")
    strict = invoke(runner, "tracking", "check", "--strict")
    extended = invoke(runner, "tracking", "setup")
    green = invoke(runner, "tracking", "check")

    document = json.loads(amber.stdout)
    assert amber.exit_code == 0
    assert document["status"] == "amber"
    assert [(e["ld_project"], e["ld_environment"], e["covered"]) for e in document["environments"]] == [
        ("default", "production", True),
        ("default", "staging", True),
        ("checkout", "production", False),
        ("checkout", "staging", False),
        ("mobile", "production", False),
    ]
    assert {p["code"] for p in document["problems"]} == {"tracking_partial_coverage"}
    assert strict.exit_code == 1
    assert extended.exit_code == 0, extended.stderr
    assert extended.stdout.startswith("Updated LaunchDarkly webhook ")
    assert extended.stdout.endswith(": extend its statements to 3 more environments.\n")
    assert writes(emulator)[-1].startswith("PATCH /api/v2/webhooks/")
    assert webhooks(emulator)[0]["secret"] == "s" * 32  # no new secret: Sentry needs nothing
    assert green.exit_code == 0


def test_check_amber_when_unsigned_and_red_when_off(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    webhook_id = add_webhook(emulator, sign=False)
    unsigned = invoke(runner, "tracking", "check", "--output", "json")
    httpx.patch(
        f"{emulator.url}/api/v2/webhooks/{webhook_id}",
        json=[{"op": "replace", "path": "/on", "value": False}],
        headers=LD,
    )
    off = invoke(runner, "tracking", "check", "--output", "json")
    repaired = invoke(runner, "tracking", "setup", "--register-in-sentry")
    after = invoke(runner, "tracking", "check")

    assert unsigned.exit_code == 0
    assert [p["code"] for p in json.loads(unsigned.stdout)["problems"]] == ["tracking_webhook_unsigned"]
    assert off.exit_code == 1
    assert [p["code"] for p in json.loads(off.stdout)["problems"]] == [
        "tracking_webhook_off",
        "tracking_webhook_unsigned",
    ]
    assert repaired.exit_code == 0, repaired.stderr
    assert repaired.stdout.startswith(
        f"Updated LaunchDarkly webhook {webhook_id}: turn it on, turn signing on, set a new"
    )
    assert sentry_secret(emulator) == webhooks(emulator)[0]["secret"]
    assert after.exit_code == 0


@pytest.mark.parametrize("output", ["github", "junit", "markdown"])
def test_check_ci_formats(runner: CliRunner, emulator: Emulator, demo_config: Path, output: str) -> None:
    result = invoke(runner, "tracking", "check", "--output", output)

    assert result.exit_code == 1
    assert "tracking_webhook_missing" in result.stdout
    if output == "github":
        assert result.stdout.splitlines()[0].startswith("::error file=ldsentry.toml,line=")
        assert result.stdout.splitlines()[-1] == "ldsentry tracking check: 0 green, 0 amber, 5 red"


def test_reader_token_gets_exit_3_with_the_role_to_add(
    runner: CliRunner, emulator: Emulator, demo_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator.sandbox.state.ld, "tokens", {LD_TOKEN: _reader(emulator)}, raising=True)

    result = invoke(runner, "tracking", "setup", "--register-in-sentry")

    assert result.exit_code == 3
    assert "error: LaunchDarkly denied permission (HTTP 403 on POST /api/v2/webhooks)" in result.stderr
    assert "hint: The LaunchDarkly access token's role must allow managing webhooks" in result.stderr
    assert sentry_secret(emulator) is None


def test_sentry_without_org_write_cannot_replace_a_secret(
    runner: CliRunner, emulator: Emulator, demo_config: Path
) -> None:
    # Another LaunchDarkly account's secret, set by someone else; the demo token has org:read only.
    emulator.sandbox.state.tracking.signing_secrets["launchdarkly"] = SigningSecret(
        1, "launchdarkly", "o" * 32, "someone-else", "2026-01-01T00:00:00+00:00"
    )

    result = invoke(runner, "tracking", "setup", "--register-in-sentry")

    assert result.exit_code == 3
    assert "error: Sentry denied permission (HTTP 403 on POST /api/0/organizations/acme/flags/signing-secrets/)" in (
        result.stderr
    )
    assert "needs a Sentry token with org:write" in result.stderr
    assert "run `ldsentry tracking setup --rotate-secret --register-in-sentry`" in result.stderr
    assert sentry_secret(emulator) == "o" * 32
    assert webhooks(emulator)[0]["secret"] not in result.stderr + result.stdout


def test_setup_without_mappings_needs_all_projects(runner: CliRunner, emulator: Emulator, isolated_env: Path) -> None:
    (isolated_env / "ldsentry.toml").write_text('[sentry]\norganization = "acme"\n', encoding="utf-8")

    refused = invoke(runner, "tracking", "setup")
    everything = invoke(runner, "tracking", "setup", "--all-projects", "--register-in-sentry")

    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: ldsentry.toml has no mappings, so there is no LaunchDarkly environment")
    assert everything.exit_code == 0, everything.stderr
    assert webhooks(emulator)[0]["statements"][0]["resources"] == ["proj/*:env/*:flag/*"]
    assert "posting the flag changes of every project" in everything.stdout


def _reader(emulator: Emulator) -> Any:
    return replace(emulator.sandbox.state.ld.tokens[LD_TOKEN], access="reader")


def test_doctor_row_follows_the_tracking_grade(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    before = json.loads(invoke(runner, "doctor", "--output", "json").stdout)
    invoke(runner, "tracking", "setup", "--register-in-sentry")
    after = invoke(runner, "doctor", "--output", "json")
    webhook_id = next(iter(emulator.sandbox.state.tracking.webhooks))
    httpx.patch(
        f"{emulator.url}/api/v2/webhooks/{webhook_id}",
        json=[{"op": "replace", "path": "/on", "value": False}],
        headers=LD,
    )
    off = invoke(runner, "doctor", "--output", "json")

    def row(document: dict[str, Any]) -> dict[str, Any]:
        return next(c for c in document["checks"] if c["name"] == "Flag change tracking")

    assert row(before) == {
        "name": "Flag change tracking",
        "status": "warn",
        "message": "not set up: no LaunchDarkly webhook sends flag changes to Sentry.",
        "hint": "Run `ldsentry tracking setup --register-in-sentry` to show flag changes beside errors in Sentry.",
    }
    assert after.exit_code == 0
    assert row(json.loads(after.stdout))["message"] == (
        f"webhook {webhook_id} sends the flag changes of 5 mapped environments to Sentry, signed."
    )
    assert off.exit_code == 1
    assert row(json.loads(off.stdout))["status"] == "fail"
    assert row(json.loads(off.stdout))["message"].startswith(
        f"LaunchDarkly webhook {webhook_id} to Sentry is turned off"
    )


def test_rotate_secret_registers_a_new_one(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    invoke(runner, "tracking", "setup", "--register-in-sentry")
    old = webhooks(emulator)[0]["secret"]

    rotated = invoke(runner, "tracking", "setup", "--rotate-secret", "--register-in-sentry")

    new = webhooks(emulator)[0]["secret"]
    assert rotated.exit_code == 0, rotated.stderr
    assert rotated.stdout.startswith("Updated LaunchDarkly webhook ")
    assert rotated.stdout.endswith(
        ": set a new signing secret.\nRegistered the new signing secret in Sentry organization 'acme'.\n"
    )
    assert new != old and sentry_secret(emulator) == new
    assert [d["status"] for d in flag_change(emulator, "mobile", "production")["deliveries"]] == [200]


def test_debug_log_never_shows_the_secret(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    result = invoke(runner, "--debug", "tracking", "setup", "--register-in-sentry")

    secret = webhooks(emulator)[0]["secret"]
    assert result.exit_code == 0, result.stderr
    assert "debug: ldsentry.http: POST /api/v2/webhooks -> 200" in result.stderr
    assert secret not in result.stderr + result.stdout
