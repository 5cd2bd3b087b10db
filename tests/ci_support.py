"""Helpers for the CI-integration tests: the action's script and config line lookups."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CONFIG = ROOT / "sample-config.toml"


def mapping_lines(text: str) -> dict[tuple[str, str], int]:
    """The line of each `[[mapping]]` header, by (sentry_project, sentry_environment), read from the text."""
    found: dict[tuple[str, str], int] = {}
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if line.strip() != "[[mapping]]":
            continue
        values: dict[str, str] = {}
        for following in lines[number:]:
            if following.strip().startswith("["):
                break
            if "=" in following and not following.lstrip().startswith("#"):
                key, _, value = following.partition("=")
                values[key.strip()] = value.split("#")[0].strip().strip('"')
        found[(values["sentry_project"], values["sentry_environment"])] = number
    return found


def load_action() -> dict[str, object]:
    """action.yml, parsed."""
    document = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def action_run_step() -> dict[str, object]:
    """The action's step that runs ldsentry."""
    runs = load_action()["runs"]
    assert isinstance(runs, dict)
    steps = runs["steps"]
    assert isinstance(steps, list)
    return next(step for step in steps if isinstance(step, dict) and "ldsentry" in str(step.get("run", "")))


def action_argv(inputs: Mapping[str, str], work: Path) -> tuple[int, list[str]]:
    """Run the action's script with bash, as GitHub would, with a stand-in `ldsentry` that records its argv.

    Inputs not given take their defaults from action.yml. Returns bash's exit code and the argv.
    """
    action = load_action()
    declared = action["inputs"]
    assert isinstance(declared, dict)
    values = {name: str(spec.get("default", "")) for name, spec in declared.items()}
    values.update(inputs)
    step = action_run_step()
    step_env = step.get("env", {})
    assert isinstance(step_env, dict)
    env = {"PATH": f"{work}:{os.environ['PATH']}"}
    for name, expression in step_env.items():
        # Each variable is exactly `${{ inputs.NAME }}`: resolve it the way GitHub does.
        input_name = str(expression).removeprefix("${{ inputs.").removesuffix(" }}")
        env[str(name)] = values[input_name]
    record = work / "argv"
    shim = work / "ldsentry"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {shlex.quote(str(record))}\n', encoding="utf-8")
    shim.chmod(0o755)
    record.unlink(missing_ok=True)
    # GitHub runs `shell: bash` steps as `bash --noprofile --norc -eo pipefail {0}`.
    command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", str(step["run"])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    argv = record.read_text(encoding="utf-8").splitlines() if record.exists() else []
    return done.returncode, argv
