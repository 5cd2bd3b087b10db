"""CLI behaviour of init, validate and mappings: exit codes, stdout, stderr."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from ld_sentry_cli import __version__
from ld_sentry_cli.cli import app
from ld_sentry_cli.config.template import starter_config

SAMPLE = Path(__file__).resolve().parents[1] / "sample-config.toml"
WEB = ["--sentry-project", "web", "--sentry-environment", "production", "--ld-project", "default"]


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])

    assert result.exit_code == 0
    assert result.stdout == f"ldsentry {__version__}\n"


def test_unknown_command_suggests(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validat"])

    assert result.exit_code == 2
    assert "Did you mean 'validate'?" in result.stderr


def test_init_writes_a_valid_starter(runner: CliRunner, isolated_env: Path) -> None:
    result = runner.invoke(app, ["init", "--sentry-organization", "acme"])

    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.startswith("Wrote ldsentry.toml.\nNext: add a mapping with `ldsentry mappings create")
    assert (isolated_env / "ldsentry.toml").read_text(encoding="utf-8") == starter_config("acme")
    validated = runner.invoke(app, ["validate"])
    assert validated.exit_code == 0
    assert validated.stdout == '✓ ldsentry.toml is valid: 0 mappings, event key "sentry-errors"\n'
    assert validated.stderr == "hint: no mappings yet; add one with `ldsentry mappings create`\n"


def test_init_without_organization_is_valid_too(runner: CliRunner) -> None:
    assert runner.invoke(app, ["init", "--event-key", "errors.sentry"]).exit_code == 0
    result = runner.invoke(app, ["validate", "-o", "json"])

    assert json.loads(result.stdout)["event_key"] == "errors.sentry"


def test_init_refuses_to_overwrite(runner: CliRunner, isolated_env: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text("# mine\n", encoding="utf-8")

    result = runner.invoke(app, ["init"])

    assert result.exit_code == 2
    assert result.stderr == "error: ldsentry.toml already exists\nhint: Pass --force to overwrite it.\n"
    assert path.read_text(encoding="utf-8") == "# mine\n"
    assert runner.invoke(app, ["init", "--force"]).exit_code == 0
    assert path.read_text(encoding="utf-8") == starter_config()


def test_init_rejects_bad_organization(runner: CliRunner, isolated_env: Path) -> None:
    result = runner.invoke(app, ["init", "--sentry-organization", "Acme Inc"])

    assert result.exit_code == 2
    assert result.stderr == (
        "error: --sentry-organization 'Acme Inc' must be a Sentry slug: lowercase letters, digits, '-' or '_'\n"
    )
    assert not (isolated_env / "ldsentry.toml").exists()


def test_init_to_custom_path(runner: CliRunner, isolated_env: Path) -> None:
    (isolated_env / "ci").mkdir()

    result = runner.invoke(app, ["init", "--config", "ci/ldsentry.toml"])

    assert result.exit_code == 0
    assert result.stderr.startswith("Wrote ci/ldsentry.toml.")


def test_validate_sample(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", "--config", str(SAMPLE), "--output", "json"])

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "version": 1,
        "ok": True,
        "config": str(SAMPLE),
        "event_key": "sentry-errors",
        "mappings": 5,
        "problems": [],
    }


def test_mappings_list_table_and_json(runner: CliRunner, isolated_env: Path) -> None:
    shutil.copyfile(SAMPLE, isolated_env / "ldsentry.toml")

    table = runner.invoke(app, ["mappings", "list"])
    as_json = runner.invoke(app, ["mappings", "list", "--output", "json"])

    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert "Mappings in ldsentry.toml" in lines[0]
    assert any(
        line.split() == ["│", "checkout-api", "│", "staging", "│", "checkout", "│", "staging", "│", "39", "│"]
        for line in lines
    )
    document = json.loads(as_json.stdout)
    assert document["mappings"][0] == {
        "sentry_project": "web-frontend",
        "sentry_environment": "production",
        "ld_project": "default",
        "ld_environment": "production",
        "line": 21,
    }
    assert [m["line"] for m in document["mappings"]] == [21, 27, 33, 39, 45]


def test_mappings_list_empty(runner: CliRunner) -> None:
    runner.invoke(app, ["init"])

    result = runner.invoke(app, ["mappings", "list"])

    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "ldsentry.toml has no mappings yet; add one with `ldsentry mappings create`.\n"


def test_mappings_create_json_and_line(runner: CliRunner) -> None:
    runner.invoke(app, ["init"])

    result = runner.invoke(app, ["mappings", "create", *WEB, "--ld-environment", "production", "-o", "json"])

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "version": 1,
        "config": "ldsentry.toml",
        "created": {
            "sentry_project": "web",
            "sentry_environment": "production",
            "ld_project": "default",
            "ld_environment": "production",
            "line": 26,
        },
    }


def test_mappings_create_second_for_same_sentry_pair_is_refused(runner: CliRunner, isolated_env: Path) -> None:
    runner.invoke(app, ["init"])
    runner.invoke(app, ["mappings", "create", *WEB, "--ld-environment", "production"])
    before = (isolated_env / "ldsentry.toml").read_bytes()

    result = runner.invoke(app, ["mappings", "create", *WEB, "--ld-environment", "staging", "-o", "json"])

    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "conflict"
    assert error["message"] == (
        "web/production is already mapped to default/production at ldsentry.toml:26; a Sentry "
        "project+environment maps to at most one LaunchDarkly environment"
    )
    assert (isolated_env / "ldsentry.toml").read_bytes() == before


def test_many_sentry_environments_may_share_one_ld_environment(runner: CliRunner, isolated_env: Path) -> None:
    runner.invoke(app, ["init"])
    runner.invoke(app, ["mappings", "create", *WEB, "--ld-environment", "production"])

    result = runner.invoke(
        app,
        [
            "mappings",
            "create",
            "--sentry-project",
            "web",
            "--sentry-environment",
            "prod-eu",
            "--ld-project",
            "default",
            "--ld-environment",
            "production",
        ],
    )

    assert result.exit_code == 0
    assert result.stdout == "Added web/prod-eu → default/production at ldsentry.toml:32\n"
    # The starter file, untouched, then one table per mapping, both on the same LaunchDarkly environment.
    assert (isolated_env / "ldsentry.toml").read_bytes() == (
        starter_config() + '\n[[mapping]]\nsentry_project = "web"\nsentry_environment = "production"\n'
        'ld_project = "default"\nld_environment = "production"\n'
        + '\n[[mapping]]\nsentry_project = "web"\nsentry_environment = "prod-eu"\n'
        'ld_project = "default"\nld_environment = "production"\n'
    ).encode()


def test_mappings_create_rejects_bad_formats_and_keeps_file(runner: CliRunner, isolated_env: Path) -> None:
    runner.invoke(app, ["init"])
    before = (isolated_env / "ldsentry.toml").read_bytes()

    result = runner.invoke(
        app,
        [
            "mappings",
            "create",
            "--sentry-project",
            "Web",
            "--sentry-environment",
            "prod uction",
            "--ld-project",
            "d",
            "--ld-environment",
            "p",
        ],
    )

    assert result.exit_code == 2
    assert result.stderr == (
        "error: --sentry-project 'Web' must be a Sentry slug: lowercase letters, digits, '-' or '_'; "
        "--sentry-environment 'prod uction' must not contain spaces, '/' or newlines (Sentry's rule)\n"
    )
    assert (isolated_env / "ldsentry.toml").read_bytes() == before


def test_mappings_create_on_invalid_file_lists_problems(runner: CliRunner, isolated_env: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text("[metric]\nkind = 1\n", encoding="utf-8")

    result = runner.invoke(app, ["mappings", "create", *WEB, "--ld-environment", "production"])

    assert result.exit_code == 2
    assert result.stderr == (
        "ldsentry.toml:2: [metric] kind must be a string, not an integer\nerror: the configuration has 1 problem\n"
    )
    assert path.read_text(encoding="utf-8") == "[metric]\nkind = 1\n"


def test_mappings_delete_unknown_is_clear(runner: CliRunner) -> None:
    runner.invoke(app, ["init"])
    runner.invoke(app, ["mappings", "create", *WEB, "--ld-environment", "production"])

    result = runner.invoke(app, ["mappings", "delete", *WEB, "--ld-environment", "staging"])

    assert result.exit_code == 2
    assert result.stderr == (
        "error: ldsentry.toml: no mapping web/production → default/staging\n"
        "hint: Did you mean web/production → default/production (line 26)?\n"
    )


def test_mappings_delete(runner: CliRunner, isolated_env: Path) -> None:
    runner.invoke(app, ["init"])
    runner.invoke(app, ["mappings", "create", *WEB, "--ld-environment", "production"])

    result = runner.invoke(app, ["mappings", "delete", *WEB, "--ld-environment", "production"])

    assert result.exit_code == 0
    assert result.stdout == "Deleted web/production → default/production (was at ldsentry.toml:26)\n"
    assert (isolated_env / "ldsentry.toml").read_text(encoding="utf-8") == starter_config()


def test_mappings_missing_option_is_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["mappings", "create", "--sentry-project", "web"])

    assert result.exit_code == 2
    assert "Missing option '--sentry-environment'" in result.stderr
