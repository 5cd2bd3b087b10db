"""The integrations: the pre-commit hook, the GitHub Action, shell completion and progress bars."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from ci_support import ROOT, SAMPLE_CONFIG, action_argv, action_run_step, load_action
from emulator_support import Emulator, use_emulator
from typer.testing import CliRunner

from ld_sentry_cli.cli import app
from ld_sentry_cli.cli.options import OutputFormat
from ld_sentry_cli.cli.progress import progress_bar

# The console scripts of the environment running the tests (pre-commit puts its hook venv first too).
SCRIPTS = Path(sys.executable).parent


def _script_env(**extra: str) -> dict[str, str]:
    """A clean environment for the installed `ldsentry`: no tokens, no config variable."""
    return {"PATH": f"{SCRIPTS}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1", "COLUMNS": "200", **extra}


# --- pre-commit -----------------------------------------------------------------------------------


def _hook() -> dict[str, Any]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    return next(hook for hook in hooks if hook["id"] == "ldsentry-validate")


def test_hook_declaration() -> None:
    hook = _hook()

    assert hook["entry"] == "ldsentry validate --config"
    assert hook["language"] == "python"
    pattern = re.compile(hook["files"])
    assert [p for p in ("ldsentry.toml", "infra/ldsentry.toml", "a/b/ldsentry.toml") if pattern.search(p)] == [
        "ldsentry.toml",
        "infra/ldsentry.toml",
        "a/b/ldsentry.toml",
    ]
    assert not [p for p in ("myldsentry.toml", "ldsentry.toml.bak", "ldsentry_toml") if pattern.search(p)]


def _run_hook(filenames: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the hook's entry as pre-commit does: the entry split like a shell, the file names appended."""
    command = [*shlex.split(_hook()["entry"]), *filenames]
    return subprocess.run(command, cwd=cwd, env=_script_env(), capture_output=True, text=True, check=False)


def test_hook_passes_valid_files(tmp_path: Path) -> None:
    (tmp_path / "infra").mkdir()
    shutil.copyfile(SAMPLE_CONFIG, tmp_path / "ldsentry.toml")
    shutil.copyfile(SAMPLE_CONFIG, tmp_path / "infra" / "ldsentry.toml")

    done = _run_hook(["ldsentry.toml", "infra/ldsentry.toml"], tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        '✓ ldsentry.toml is valid: 5 mappings, event key "sentry-errors"\n'
        '✓ infra/ldsentry.toml is valid: 5 mappings, event key "sentry-errors"\n'
    )


def test_hook_fails_on_one_invalid_file_and_names_its_lines(tmp_path: Path) -> None:
    (tmp_path / "infra").mkdir()
    shutil.copyfile(SAMPLE_CONFIG, tmp_path / "ldsentry.toml")
    (tmp_path / "infra" / "ldsentry.toml").write_text('[metric]\nevent_kee = "x"\n', encoding="utf-8")

    done = _run_hook(["ldsentry.toml", "infra/ldsentry.toml"], tmp_path)

    assert done.returncode == 2
    assert done.stdout == (
        '✓ ldsentry.toml is valid: 5 mappings, event key "sentry-errors"\n'
        "infra/ldsentry.toml:2: unknown key 'event_kee' in [metric] (did you mean 'event_key'?)\n"
        "✗ infra/ldsentry.toml: 1 problem\n"
    )


# --- the GitHub Action ----------------------------------------------------------------------------


def test_action_declares_the_documented_inputs_and_outputs() -> None:
    action = load_action()
    inputs = action["inputs"]

    assert {name: spec.get("default") for name, spec in inputs.items()} == {
        "config": "ldsentry.toml",
        "command": "validate",
        "strict": "false",
        "python-version": "3.12",
    }
    assert set(action["outputs"]) == {"red", "amber", "green"}
    assert all(spec["value"] == f"${{{{ steps.ldsentry.outputs.{name} }}}}" for name, spec in action["outputs"].items())


def test_action_sets_up_python_and_installs_itself() -> None:
    runs = load_action()["runs"]
    steps = runs["steps"]

    assert runs["using"] == "composite"
    assert steps[0]["uses"] == "actions/setup-python@v5"
    assert steps[0]["with"] == {"python-version": "${{ inputs.python-version }}"}
    assert 'pip install --disable-pip-version-check --quiet "${{ github.action_path }}"' in steps[1]["run"]
    assert all(step["shell"] == "bash" for step in steps if "run" in step)
    assert action_run_step()["id"] == "ldsentry"


def _parse(argv: list[str]) -> dict[str, Any]:
    """Parse argv with the app's Click commands, as the installed script would; unknown names raise."""
    command: Any = typer.main.get_command(app)
    context = command.context_class(command, info_name="ldsentry")
    words = list(argv)
    while words and not words[0].startswith("-") and hasattr(command, "get_command"):
        sub = command.get_command(context, words[0])
        assert sub is not None, f"no command {words[0]!r}"
        context = sub.context_class(sub, info_name=words.pop(0), parent=context)
        command = sub
    return dict(command.make_context(context.info_name, words, parent=context.parent).params)


@pytest.mark.parametrize(
    ("command", "strict", "expected"),
    [
        ("validate", "false", ["validate"]),
        ("validate", "true", ["validate"]),  # validate has no amber, so no --strict
        ("status", "false", ["status"]),
        ("status", "true", ["status", "--strict"]),
        ("events-check", "false", ["events", "check"]),
        ("events-check", "true", ["events", "check", "--strict"]),
    ],
)
def test_action_runs_real_commands_and_flags(tmp_path: Path, command: str, strict: str, expected: list[str]) -> None:
    code, argv = action_argv({"command": command, "strict": strict, "config": "ci/ldsentry.toml"}, tmp_path)

    assert code == 0
    assert argv == [*expected, "--config", "ci/ldsentry.toml", "--output", "github"]
    params = _parse(argv)
    # Depending on the Typer release, values are converted at parse time or when the function is called.
    assert getattr(params["output"], "value", params["output"]) == OutputFormat.GITHUB.value
    assert Path(params["config"]) == Path("ci/ldsentry.toml")
    assert params.get("strict", False) is (strict == "true" and command != "validate")


def test_action_refuses_an_unknown_command(tmp_path: Path) -> None:
    code, argv = action_argv({"command": "metric-create"}, tmp_path)

    assert code == 2
    assert argv == []


def test_action_validate_runs_for_real(runner: CliRunner, tmp_path: Path, isolated_env: Path) -> None:
    shutil.copyfile(SAMPLE_CONFIG, isolated_env / "ldsentry.toml")
    _, argv = action_argv({}, tmp_path)

    result = runner.invoke(app, argv)

    assert result.exit_code == 0
    assert result.stdout == 'ldsentry validate: ✓ ldsentry.toml is valid: 5 mappings, event key "sentry-errors"\n'


# --- shell completion -----------------------------------------------------------------------------


def _complete(words: str, cword: int) -> list[str]:
    """What bash completion offers, through Typer's protocol on the installed script."""
    env = _script_env(_LDSENTRY_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(cword))
    done = subprocess.run(["ldsentry"], env=env, capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_completion_of_commands_subcommands_and_choices() -> None:
    assert _complete("ldsentry m", 1) == ["mappings", "metric"]
    assert _complete("ldsentry metric ", 2) == ["check", "create"]
    assert _complete("ldsentry status --output ", 3) == [member.value for member in OutputFormat]


# --- progress bars --------------------------------------------------------------------------------


LIVE_COMMANDS = [
    ["status"],
    ["metric", "check"],
    ["metric", "create", "--dry-run"],
    ["events", "check", "--event-rate", "1000"],
    ["doctor"],
]


@pytest.mark.parametrize("args", LIVE_COMMANDS, ids=" ".join)
def test_commands_with_many_requests_show_progress(
    runner: CliRunner, module_emulator: Emulator, args: list[str], demo_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_emulator(monkeypatch, module_emulator.url)
    updates: list[tuple[int, int]] = []

    @contextlib.contextmanager
    def recording_bar(description: str) -> Iterator[Any]:
        yield lambda done, total: updates.append((done, total))

    monkeypatch.setattr("ld_sentry_cli.cli.live.progress_bar", recording_bar)
    module_emulator.sandbox.reset()

    result = runner.invoke(app, args)

    requests = len(module_emulator.sandbox.requests())
    assert result.exit_code in (0, 1), result.stderr
    if requests > 5:  # more than a handful: the user must see progress
        assert updates, f"{' '.join(args)} made {requests} requests without a progress bar"
    if updates:  # a command with only a handful of requests may still show a bar; it finishes full
        assert updates[-1][0] == updates[-1][1]


def test_progress_is_silent_when_stderr_is_not_a_terminal(
    runner: CliRunner, module_emulator: Emulator, demo_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_emulator(monkeypatch, module_emulator.url)

    result = runner.invoke(app, ["status", "-o", "json"])

    assert result.exit_code == 1
    assert result.stderr == ""


def test_progress_bar_draws_on_a_terminal_and_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress_bar("Checking") as update:
        assert update is not None
        update(1, 2)
        update(2, 2)
    monkeypatch.undo()
    with progress_bar("Checking") as update:
        assert update is None  # pytest captures stderr: not a terminal

    frames = [frame.removeprefix("\x1b[2K") for frame in terminal.getvalue().split("\r")]
    drawn = [frame for frame in frames if frame.startswith("Checking")]
    # The last frame drawn is full: a 40-cell bar, the count done of the total, the time taken.
    assert re.fullmatch(r"Checking ━{40} 2/2 0:00:0\d\n\x1b\[\?25h", drawn[-1]), drawn
    # Then the bar is erased (it is transient): the line above is cleared and the output ends there.
    assert terminal.getvalue().endswith(drawn[-1] + "\r\x1b[1A\x1b[2K")
