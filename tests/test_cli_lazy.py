"""The command line imports and builds only the command that runs, and shows the same tree as an eager app."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main
from support import command_paths
from typer.testing import CliRunner

from ld_sentry_cli import __version__
from ld_sentry_cli.cli import COMMANDS, app
from ld_sentry_cli.cli.lazy import registered

ROOT = Path(__file__).resolve().parents[1]
COMMAND_MODULES = {entry.module for entry in COMMANDS}

# Runs the console script's entry point in a fresh interpreter, then records its exit code and which
# modules were imported (a test process has imported them all already).
PROBE = """
import json, sys
from ld_sentry_cli.cli import main
report, sys.argv = sys.argv[1], ["ldsentry", *sys.argv[2:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
with open(report, "w", encoding="utf-8") as file:
    json.dump({"code": code, "modules": sorted(sys.modules)}, file)
"""


def _probe_all(tmp_path: Path, *args: str) -> tuple[int, set[str], subprocess.CompletedProcess[str]]:
    """Exit code and every module imported by `ldsentry ARGS` in a new interpreter."""
    report = tmp_path / "probe.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    result = json.loads(report.read_text(encoding="utf-8"))
    return result["code"], set(result["modules"]), done


def _probe(tmp_path: Path, *args: str) -> tuple[int, set[str], subprocess.CompletedProcess[str]]:
    """Exit code and imported ld_sentry_cli.cli modules of `ldsentry ARGS` in a new interpreter."""
    code, modules, done = _probe_all(tmp_path, *args)
    return code, {name for name in modules if name.startswith("ld_sentry_cli.cli.")}, done


def test_version_imports_no_command(tmp_path: Path) -> None:
    code, modules, done = _probe(tmp_path, "--version")

    assert code == 0
    assert done.stdout == f"ldsentry {__version__}\n"
    assert modules & COMMAND_MODULES == set()
    assert not [name for name in modules if name.endswith("_cmd")]


def test_a_command_imports_only_its_own_module(tmp_path: Path) -> None:
    code, modules, done = _probe(tmp_path, "validate", "--config", str(ROOT / "sample-config.toml"))

    assert code == 0, done.stderr
    assert "is valid" in done.stdout
    assert modules & COMMAND_MODULES == {"ld_sentry_cli.cli.validate_cmd"}


@pytest.mark.parametrize("output", ["table", "json", "github", "junit", "markdown"])
def test_validate_loads_no_http_stack_no_rich_and_no_live_grading(tmp_path: Path, output: str) -> None:
    # What the pre-commit hook runs on every commit stays light by the layers (docs/design.md "Layers").
    config = str(ROOT / "sample-config.toml")
    code, modules, done = _probe_all(tmp_path, "validate", "--config", config, "--output", output)

    assert code == 0, done.stderr
    heavy = {"httpx", "httpcore", "rich", "tomlkit", "ld_sentry_cli.http", "ld_sentry_cli.health"}
    assert modules & heavy == set()


def test_a_subcommand_imports_its_group_but_not_the_others(tmp_path: Path) -> None:
    code, modules, _ = _probe(tmp_path, "relay", "--help")

    assert code == 0
    assert "ld_sentry_cli.cli.relay_cmd" in modules
    assert not modules & {"ld_sentry_cli.cli.sandbox_cmd", "ld_sentry_cli.cli.validate_cmd"}


def test_a_mistyped_command_is_suggested_without_importing_any(tmp_path: Path) -> None:
    code, modules, done = _probe(tmp_path, "stauts")

    assert code == 2
    assert done.stderr.endswith("Error: No such command 'stauts'. Did you mean 'status'?\n")
    assert modules & COMMAND_MODULES == set()


def test_python_dash_m_runs_the_same_app(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ld_sentry_cli", "--version"], capture_output=True, text=True, check=True, cwd=tmp_path
    )

    assert done.stdout == f"ldsentry {__version__}\n"


def _listed(help_text: str) -> list[str]:
    """The command names of a help screen's Commands section, in order."""
    section = help_text.split("\nCommands:\n", 1)[1]
    return [line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.strip()]


def test_help_lists_every_registered_command_in_order(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])

    assert result.exit_code == 0
    assert _listed(result.stdout) == [entry.name for entry in COMMANDS]


def test_registry_names_are_unique_and_each_loads_a_command_or_group() -> None:
    assert len({entry.name for entry in COMMANDS}) == len(COMMANDS)
    for entry in COMMANDS:
        target = entry.load()
        assert isinstance(target, typer.Typer) or callable(target), entry


def test_cli_reference_lists_commands_in_help_order() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    documented = re.findall(r"^## `ldsentry (\S+)`$", text, flags=re.M)  # top-level commands only

    assert documented == [entry.name for entry in COMMANDS]


def test_every_help_screen_is_what_the_eager_app_shows(runner: CliRunner) -> None:
    eager = registered(app)
    paths = list(command_paths(typer.main.get_command(app)))

    assert {words[0] for words in paths if words} == {entry.name for entry in COMMANDS}
    for words in paths:
        lazy_result = runner.invoke(app, [*words, "--help"])
        eager_result = runner.invoke(eager, [*words, "--help"])
        assert lazy_result.exit_code == eager_result.exit_code == 0, words
        assert lazy_result.stdout == eager_result.stdout, words


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stauts"], "No such command 'stauts'. Did you mean 'status'?"),
        (["metric", "chek"], "No such command 'chek'. Did you mean 'check'?"),
    ],
)
def test_mistyped_commands_fail_as_the_eager_app_does(runner: CliRunner, args: list[str], message: str) -> None:
    lazy_result = runner.invoke(app, args)
    eager_result = runner.invoke(registered(app), args)

    assert lazy_result.exit_code == eager_result.exit_code == 2
    assert lazy_result.stderr == eager_result.stderr
    assert message in lazy_result.stderr


def test_registered_leaves_the_app_lazy() -> None:
    registered(app)

    assert app.registered_commands == [] and app.registered_groups == []
