"""Every reporting command in every output format, live ones against the emulator: exit codes never change."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ci_support import SAMPLE_CONFIG, mapping_lines
from emulator_support import Emulator, use_emulator
from typer.testing import CliRunner

from ld_sentry_cli.cli import app

FORMATS = ("table", "json", "github", "junit", "markdown")
# The demo scenario has red mappings, so every live check exits 1; `events check` is sped up only.
COMMANDS = {
    "validate": (["validate"], 0),
    "mappings list": (["mappings", "list"], 0),
    "status": (["status"], 1),
    "metric check": (["metric", "check"], 1),
    "events check": (["events", "check", "--event-rate", "1000"], 1),
}


@pytest.fixture
def live(module_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, demo_config: Path) -> Path:
    """The environment pointed at the module's emulator and sample-config.toml as ./ldsentry.toml."""
    use_emulator(monkeypatch, module_emulator.url)
    return demo_config


def _check_document(output: str, stdout: str) -> None:
    if output == "json":
        assert json.loads(stdout)["version"] == 1
    elif output == "junit":
        assert ET.fromstring(stdout).tag == "testsuites"
    elif output == "github":
        lines = stdout.splitlines()
        assert all(line.startswith("::") for line in lines[:-1])
        assert lines[-1].startswith("ldsentry ")
    elif output == "markdown":
        assert stdout.startswith("### ldsentry ")
        assert "| Status |" in stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_format_keeps_the_exit_code(runner: CliRunner, live: Path, command: str) -> None:
    args, expected = COMMANDS[command]

    for output in FORMATS:
        result = runner.invoke(app, [*args, "--output", output])

        assert result.exit_code == expected, (output, result.stdout, result.stderr)
        _check_document(output, result.stdout)


def test_status_github_annotations_point_at_the_mapping_lines(runner: CliRunner, live: Path) -> None:
    result = runner.invoke(app, ["status", "-o", "github"])

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "::error file=ldsentry.toml,line=21,title=metric_missing::web-frontend/production → default/production: "
        "No custom metric has event key 'sentry-errors'; run `ldsentry metric create`.",
        "::error file=ldsentry.toml,line=27,title=metric_missing::web-frontend/staging → default/staging: "
        "No custom metric has event key 'sentry-errors'; run `ldsentry metric create`.",
        "::error file=ldsentry.toml,line=45,title=metric_archived::mobile-app/production → mobile/production: "
        "Metric 'sentry-errors-old' with event key 'sentry-errors' is archived; restore it in LaunchDarkly, "
        "or run `ldsentry metric create`.",
        "ldsentry status: 2 green, 0 amber, 3 red",
    ]


def test_github_appends_step_summary_and_outputs(
    runner: CliRunner, live: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary, outputs = isolated_env / "summary.md", isolated_env / "outputs"
    summary.write_text("earlier step\n", encoding="utf-8")
    outputs.write_text("other=1\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))

    result = runner.invoke(app, ["status", "-o", "github"])
    markdown = runner.invoke(app, ["status", "-o", "markdown"])

    assert result.exit_code == markdown.exit_code == 1
    assert summary.read_text(encoding="utf-8") == "earlier step\n" + markdown.stdout + "\n"
    assert outputs.read_text(encoding="utf-8") == "other=1\nred=3\namber=0\ngreen=2\n"


@pytest.mark.parametrize("command", ["validate", "status"])
def test_other_formats_leave_the_github_files_alone(
    runner: CliRunner, live: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    args, expected = COMMANDS[command]
    summary, outputs = isolated_env / "summary.md", isolated_env / "outputs"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))

    for output in ("table", "json", "junit", "markdown"):
        result = runner.invoke(app, [*args, "--output", output])

        assert result.exit_code == expected, (output, result.stdout, result.stderr)
        _check_document(output, result.stdout)
        assert not summary.exists() and not outputs.exists(), output
    github = runner.invoke(app, [*args, "--output", "github"])

    # The same setup in `github` format writes both files: the variables above are the ones read.
    assert github.exit_code == expected
    assert summary.read_text(encoding="utf-8").startswith("### ldsentry ")
    assert outputs.read_text(encoding="utf-8").startswith("red=")


def test_table_stays_the_default_in_github_actions(
    runner: CliRunner, live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    result = runner.invoke(app, ["validate"])

    assert result.stdout == '✓ ldsentry.toml is valid: 5 mappings, event key "sentry-errors"\n'


def test_annotation_paths_are_relative_to_the_workspace(
    runner: CliRunner, live: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    infra = isolated_env / "infra"
    infra.mkdir()
    live.rename(infra / "ldsentry.toml")
    monkeypatch.chdir(infra)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(isolated_env))

    result = runner.invoke(app, ["metric", "check", "-o", "github"])

    assert result.stdout.splitlines()[0].startswith("::error file=infra/ldsentry.toml,line=21,title=metric_missing::")


AMBER_ONLY = """\
[sentry]
organization = "acme"

[[mapping]]
sentry_project = "web-frontend"
sentry_environment = "qa"
ld_project = "checkout"
ld_environment = "production"
"""


def test_strict_turns_amber_into_a_failure_in_every_format(runner: CliRunner, live: Path) -> None:
    # The demo's web-frontend has a hidden "qa" environment: amber, while the checkout metric is green.
    live.write_text(AMBER_ONLY, encoding="utf-8")

    plain = {output: runner.invoke(app, ["status", "-o", output]) for output in FORMATS}
    strict = {output: runner.invoke(app, ["status", "-o", output, "--strict"]) for output in FORMATS}

    assert {output: result.exit_code for output, result in plain.items()} == dict.fromkeys(FORMATS, 0)
    assert {output: result.exit_code for output, result in strict.items()} == dict.fromkeys(FORMATS, 1)
    assert plain["github"].stdout.startswith("::warning file=ldsentry.toml,line=4,title=sentry_environment_hidden::")
    assert strict["github"].stdout.startswith("::error file=ldsentry.toml,line=4,title=sentry_environment_hidden::")


# --- errors in CI formats -------------------------------------------------------------------------


def test_missing_config_in_ci_formats(runner: CliRunner, isolated_env: Path) -> None:
    expected_stderr = (
        "error: ldsentry.toml: no such file\nhint: Run `ldsentry init` to create one, or pass --config PATH.\n"
    )
    for output in ("table", "junit", "markdown", "github"):
        result = runner.invoke(app, ["status", "-o", output])

        assert result.exit_code == 2
        assert result.stderr == expected_stderr
        if output == "github":
            assert result.stdout == (
                "::error title=config_not_found::ldsentry.toml: no such file%0A"
                "Run `ldsentry init` to create one, or pass --config PATH.\n"
            )
        else:
            assert result.stdout == ""
    as_json = runner.invoke(app, ["status", "-o", "json"])
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout) == {
        "version": 1,
        "error": {
            "code": "config_not_found",
            "message": "ldsentry.toml: no such file",
            "hint": "Run `ldsentry init` to create one, or pass --config PATH.",
        },
    }


def test_invalid_config_for_a_live_command_annotates_each_problem(runner: CliRunner, isolated_env: Path) -> None:
    (isolated_env / "ldsentry.toml").write_text("[metric]\nkind = 1\n\n[sentri]\n", encoding="utf-8")

    result = runner.invoke(app, ["status", "-o", "github"])

    assert result.exit_code == 2
    assert result.stdout == (
        "::error file=ldsentry.toml,line=4,title=unknown_key::unknown section [sentri] (did you mean [sentry]?)\n"
        "::error file=ldsentry.toml,line=2,title=wrong_type::[metric] kind must be a string, not an integer\n"
    )
    assert result.stderr.endswith("error: the configuration has 2 problems\n")


def test_missing_token_in_github_format(runner: CliRunner, live: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LD_ACCESS_TOKEN")

    result = runner.invoke(app, ["metric", "check", "-o", "github"])

    assert result.exit_code == 2
    assert result.stdout.startswith(
        "::error title=auth_failed::No LaunchDarkly access token: set LD_ACCESS_TOKEN or LAUNCHDARKLY_ACCESS_TOKEN.%0A"
    )
    assert result.stderr.startswith("error: No LaunchDarkly access token")


# --- validate with several files ------------------------------------------------------------------


def test_validate_several_files(runner: CliRunner, isolated_env: Path) -> None:
    shutil.copyfile(SAMPLE_CONFIG, isolated_env / "ldsentry.toml")
    (isolated_env / "bad.toml").write_text("[metric]\nkind = 1\n", encoding="utf-8")

    result = runner.invoke(app, ["validate", "--config", "ldsentry.toml", "bad.toml"])
    as_json = runner.invoke(app, ["validate", "ldsentry.toml", "bad.toml", "-o", "json"])
    good_only = runner.invoke(app, ["validate", "ldsentry.toml", "ldsentry.toml"])

    assert result.exit_code == as_json.exit_code == 2
    assert result.stdout == (
        '✓ ldsentry.toml is valid: 5 mappings, event key "sentry-errors"\n'
        "bad.toml:2: [metric] kind must be a string, not an integer\n"
        "✗ bad.toml: 1 problem\n"
    )
    document = json.loads(as_json.stdout)
    assert document["ok"] is False
    assert [(c["config"], c["ok"]) for c in document["configs"]] == [("ldsentry.toml", True), ("bad.toml", False)]
    assert good_only.exit_code == 0
    assert good_only.stdout == '✓ ldsentry.toml is valid: 5 mappings, event key "sentry-errors"\n'


# --- line numbers after edits ---------------------------------------------------------------------

QA = ["--sentry-project", "web-frontend", "--sentry-environment", "qa", "--ld-project", "default"]
FIRST = [
    "--sentry-project",
    "web-frontend",
    "--sentry-environment",
    "production",
    "--ld-project",
    "default",
    "--ld-environment",
    "production",
]


def _annotated_lines(stdout: str) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for line in stdout.splitlines():
        if line.startswith("::"):
            properties, _, message = line[2:].partition("::")
            line_number = next(int(p[5:]) for p in properties.split(",") if p.startswith("line="))
            found.setdefault(message.split(":", 1)[0], set()).add(line_number)
    return found


def test_lines_are_right_after_create_and_delete(runner: CliRunner, live: Path) -> None:
    created = runner.invoke(app, ["mappings", "create", *QA, "--ld-environment", "production"])
    assert created.exit_code == 0
    after_create = mapping_lines(live.read_text(encoding="utf-8"))
    assert created.stdout == (
        f"Added web-frontend/qa → default/production at ldsentry.toml:{after_create[('web-frontend', 'qa')]}\n"
    )

    status = runner.invoke(app, ["status", "-o", "github"])
    assert _annotated_lines(status.stdout)["web-frontend/qa → default/production"] == {
        after_create[("web-frontend", "qa")]
    }

    assert runner.invoke(app, ["mappings", "delete", *FIRST]).exit_code == 0
    after_delete = mapping_lines(live.read_text(encoding="utf-8"))
    assert after_delete[("web-frontend", "qa")] < after_create[("web-frontend", "qa")]

    status = runner.invoke(app, ["status", "-o", "github"])
    listed = runner.invoke(app, ["mappings", "list", "-o", "junit"])
    annotated = _annotated_lines(status.stdout)
    assert "web-frontend/production → default/production" not in annotated
    assert annotated["web-frontend/qa → default/production"] == {after_delete[("web-frontend", "qa")]}
    assert annotated["mobile-app/production → mobile/production"] == {after_delete[("mobile-app", "production")]}
    cases = ET.fromstring(listed.stdout).findall("./testsuite/testcase")
    lines = {c.get("name"): int(c.get("line") or 0) for c in cases}
    assert lines == {
        f"{project}/{env} → {ld}": after_delete[(project, env)]
        for project, env, ld in [
            ("web-frontend", "staging", "default/staging"),
            ("checkout-api", "production", "checkout/production"),
            ("checkout-api", "staging", "checkout/staging"),
            ("mobile-app", "production", "mobile/production"),
            ("web-frontend", "qa", "default/production"),
        ]
    }
