"""The reference docs stay true: generated files are current, and every CI recipe runs as documented."""

from __future__ import annotations

import dataclasses
import re
import shlex
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from ci_support import ROOT, action_argv
from emulator_support import Emulator, use_emulator
from support import load_script
from typer.testing import CliRunner

from ld_sentry_cli.cli import app
from ld_sentry_cli.config import check_text
from ld_sentry_cli.config.schema import SECTIONS
from ld_sentry_cli.models import LaunchDarklySettings, MetricSettings, ProjectMapping, RelaySettings, SentrySettings

DOCS = ROOT / "docs"


# --- docs/cli.md ----------------------------------------------------------------------------------


def test_cli_reference_is_current() -> None:
    generated = load_script("gen_cli_docs").generate(app)

    assert (DOCS / "cli.md").read_text(encoding="utf-8") == generated, (
        "docs/cli.md is out of date: run python scripts/gen_cli_docs.py"
    )


def _click_commands() -> dict[str, set[str]]:
    """Every command path of the real Click tree, with the option flags it accepts (but --help)."""
    found: dict[str, set[str]] = {}

    def walk(command: Any, context: Any, words: tuple[str, ...]) -> None:
        flags = {
            opt
            for param in command.get_params(context)
            if param.param_type_name == "option" and not param.hidden
            for opt in (*param.opts, *param.secondary_opts)
        }
        found[" ".join(("ldsentry", *words))] = flags - {"--help", "-h"}
        if hasattr(command, "list_commands"):
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                if not sub.hidden:
                    walk(sub, sub.context_class(sub, info_name=name, parent=context), (*words, name))

    root = typer.main.get_command(app)
    walk(root, root.context_class(root, info_name="ldsentry"), ())
    return found


def test_cli_reference_matches_the_click_tree() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## `(ldsentry[^`]*)`\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))

    commands = _click_commands()
    assert set(sections) == set(commands)
    for name, flags in commands.items():
        documented = set(re.findall(r"`(--?[a-z][a-z-]*)`", sections[name].split("| option |", 1)[-1]))
        assert documented == flags, name


# --- docs/config.md -------------------------------------------------------------------------------


def test_config_reference_is_current() -> None:
    assert (DOCS / "config.md").read_text(encoding="utf-8") == load_script("gen_config_docs").generate(), (
        "docs/config.md is out of date: run python scripts/gen_config_docs.py"
    )


def _documented_keys() -> dict[str, set[str]]:
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    found: dict[str, set[str]] = {}
    for header, body in re.findall(r"^## `\[\[?(\w+)\]?\]`\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S):
        found[header] = set(re.findall(r"^\| `(\w+)` \|", body, flags=re.M))
    return found


def _toml(section: str, key: str, value: str) -> str:
    header = "[[mapping]]" if section == "mapping" else f"[{section}]"
    return f"{header}\n{key} = {value}\n"


def test_every_documented_key_is_accepted_and_only_those() -> None:
    documented = _documented_keys()

    assert documented == {section.name: {key.name for key in section.keys} for section in SECTIONS}
    for section, keys in documented.items():
        for key in keys:
            _, problems, _ = check_text(_toml(section, key, '"x"'), "f.toml")
            assert "unknown_key" not in {p.code for p in problems}, (section, key)
            # A near miss of the same key is refused, so the documented names are the exact ones.
            _, problems, _ = check_text(_toml(section, key + "s", '"x"'), "f.toml")
            assert "unknown_key" in {p.code for p in problems}, (section, key + "s")


def test_every_key_the_loader_builds_is_documented() -> None:
    built = {
        "launchdarkly": LaunchDarklySettings,
        "sentry": SentrySettings,
        "metric": MetricSettings,
        "relay": RelaySettings,
        "mapping": ProjectMapping,
    }
    documented = _documented_keys()

    for section, settings in built.items():
        fields = {f.name for f in dataclasses.fields(settings) if f.name != "line"}  # line: where, not a key
        assert fields == documented[section], section


# --- docs/ci.md -----------------------------------------------------------------------------------

CI_DOC = (DOCS / "ci.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", CI_DOC, flags=re.M | re.S)
ACTION = "<owner>/ldsentry@v1"
# What each command exits with on the demo scenario (it has red mappings).
EXPECTED_EXIT = {"validate": 0, "status": 1, "events": 1, "metric": 1, "mappings": 0}


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _yaml_blocks() -> list[Any]:
    return [yaml.safe_load(body) for language, body in BLOCKS if language == "yaml"]


def recipe_commands() -> list[str]:
    """Every `ldsentry ...` command line in the recipes: shell blocks, `run:` steps, GitLab scripts."""
    texts = []
    for language, body in BLOCKS:
        if language == "sh":
            texts.append(body)
        elif language == "yaml":
            texts += _strings(yaml.safe_load(body))
    return [line.strip() for text in texts for line in text.splitlines() if line.strip().startswith("ldsentry ")]


def action_steps() -> list[dict[str, Any]]:
    """Every workflow step that uses the action, with the job's environment merged in."""
    steps = []
    for document in _yaml_blocks():
        if not isinstance(document, dict) or "jobs" not in document:
            continue
        for job in document["jobs"].values():
            for step in job["steps"]:
                if step.get("uses") == ACTION:
                    steps.append({**step, "env": {**job.get("env", {}), **step.get("env", {})}})
    return steps


@pytest.fixture
def workspace(module_emulator: Emulator, demo_config: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with the sample config at the root and in infra/, and the tokens set."""
    (demo_config.parent / "infra").mkdir()
    shutil.copyfile(demo_config, demo_config.parent / "infra" / "ldsentry.toml")
    use_emulator(monkeypatch, module_emulator.url)
    return demo_config.parent


def _run(runner: CliRunner, argv: list[str], workspace: Path) -> tuple[int, str]:
    """Run one recipe command in-process; `> FILE` is honoured. Exit code and stdout."""
    target = None
    if ">" in argv:
        argv, target = argv[: argv.index(">")], argv[argv.index(">") + 1]
    assert argv[0] == "ldsentry"
    args = argv[1:]
    if args[:2] == ["events", "check"]:
        args += ["--event-rate", "1000"]  # only faster: the request rate limiter has its own tests
    result = runner.invoke(app, args)
    if target is not None:
        (workspace / target).write_text(result.stdout, encoding="utf-8")
    return result.exit_code, result.stdout


def test_recipes_have_commands_to_run() -> None:
    assert recipe_commands() == [
        "ldsentry validate --config ldsentry.toml --output github",
        "ldsentry validate --output junit > ldsentry-validate.xml",
        "ldsentry status --output junit > ldsentry-status.xml",
        "ldsentry validate --config ldsentry.toml infra/ldsentry.toml",
        "ldsentry status --output markdown > ldsentry-status.md",
    ]
    assert [step["with"]["command"] for step in action_steps()] == ["validate", "status", "events-check"]


@pytest.mark.parametrize("command", recipe_commands())
def test_recipe_command_runs(runner: CliRunner, workspace: Path, command: str) -> None:
    argv = shlex.split(command)

    code, _ = _run(runner, argv, workspace)

    assert code == EXPECTED_EXIT[argv[1]], command
    for report in workspace.glob("*.xml"):
        assert ET.parse(report).getroot().tag == "testsuites"


@pytest.mark.parametrize("step", action_steps(), ids=lambda step: step["with"]["command"])
def test_workflow_action_steps_run(
    runner: CliRunner, workspace: Path, tmp_path_factory: pytest.TempPathFactory, step: dict[str, Any]
) -> None:
    inputs = {name: str(value) for name, value in step["with"].items()}
    status, argv = action_argv(inputs, tmp_path_factory.mktemp("action"))
    assert status == 0

    code, stdout = _run(runner, ["ldsentry", *argv], workspace)

    assert code == EXPECTED_EXIT[argv[0]]
    assert stdout.splitlines()[-1].startswith("ldsentry ")
    if argv[0] != "validate":  # the live steps get both tokens from repository secrets
        assert step["env"] == {
            "LD_ACCESS_TOKEN": "${{ secrets.LD_ACCESS_TOKEN }}",
            "SENTRY_AUTH_TOKEN": "${{ secrets.SENTRY_AUTH_TOKEN }}",
        }


def test_workflow_runs_on_pull_requests_and_nightly() -> None:
    workflow = next(d for d in _yaml_blocks() if isinstance(d, dict) and "jobs" in d)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true

    assert set(triggers) >= {"pull_request", "schedule"}
    assert triggers["pull_request"]["paths"] == ["ldsentry.toml"]


def test_annotation_example_is_what_status_prints(runner: CliRunner, workspace: Path) -> None:
    example = next(body for language, body in BLOCKS if language == "text").strip()

    result = runner.invoke(app, ["status", "--output", "github"])

    assert example in result.stdout.splitlines()


def test_pre_commit_recipe_names_the_published_hook() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    config = next(d for d in _yaml_blocks() if isinstance(d, dict) and "repos" in d)

    assert [h["id"] for repo in config["repos"] for h in repo["hooks"]] == [hooks[0]["id"]]


def test_readme_links_the_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    for page in ("docs/cli.md", "docs/config.md", "docs/ci.md"):
        assert f"]({page})" in readme
