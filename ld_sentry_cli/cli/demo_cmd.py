"""`ldsentry demo`: ldsentry's whole job on the built-in emulator, in one command, with no accounts."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ld_sentry_cli.cli.runner import command_errors
from ld_sentry_cli.errors import ExitCode

# Every variable that points ldsentry somewhere; the demo sets them and restores them afterwards.
_POINTERS = (
    "LD_BASE_URI",
    "SENTRY_URL",
    "LD_ACCESS_TOKEN",
    "LAUNCHDARKLY_ACCESS_TOKEN",
    "SENTRY_AUTH_TOKEN",
    "SENTRY_ORG",
    "LDSENTRY_CONFIG",
)


@dataclass(frozen=True)
class Step:
    """One command of the walkthrough, what it shows, and the exit code it should end with."""

    args: tuple[str, ...]
    explanation: str
    expected_exit: int


STEPS = (
    Step(
        ("validate",),
        "The mappings live in a reviewed TOML file (a copy of sample-config.toml). `validate` checks it "
        "offline, as a pull request check would: schema, key formats, conflicts, secrets.",
        ExitCode.OK,
    ),
    Step(
        ("status",),
        "`status` asks both APIs about every mapping at once. Two LaunchDarkly projects have no usable "
        "metric for the event key, so their mappings are RED (exit 1): the errors would go nowhere.",
        ExitCode.PROBLEMS,
    ),
    Step(
        ("metric", "create", "--dry-run"),
        "`metric create --dry-run` shows exactly what would be sent to repair them, and sends nothing.",
        ExitCode.OK,
    ),
    Step(
        ("metric", "create"),
        "`metric create` creates the custom conversion metric where it is missing, and leaves the rest.",
        ExitCode.OK,
    ),
    Step(
        ("status",),
        "`status` again: every mapping is GREEN now (exit 0), what a nightly CI job wants to see.",
        ExitCode.OK,
    ),
    Step(
        ("events", "check", "--max-events", "20", "--event-rate", "50"),
        "The panel can be green while nothing arrives: LaunchDarkly ignores every Sentry error without a "
        "`launchdarklyContext` context. `events check` samples recent errors and says which lack it, "
        "which misname it and which carry an unusable one (exit 1 here, by design of the demo data).",
        ExitCode.PROBLEMS,
    ),
)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set the pointer variables to values for the block, then restore what was there."""
    saved = {name: os.environ.get(name) for name in _POINTERS}
    for name in _POINTERS:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@command_errors
def demo() -> int:
    """Show ldsentry's whole job on the built-in emulator: validate, status, repair, status, events."""
    import shutil
    import tempfile

    from rich.rule import Rule

    from ld_sentry_cli.cli import app
    from ld_sentry_cli.cli.runner import stdout_console
    from ld_sentry_cli.cli.sandbox_cmd import export_lines
    from ld_sentry_cli.sandbox import build_app, load_demo_scenario, serve_in_thread

    console = stdout_console()
    scenario = load_demo_scenario()
    bundled_config = Path(__file__).resolve().parents[1] / "sandbox" / "scenarios" / "demo-config.toml"
    with tempfile.TemporaryDirectory(prefix="ldsentry-demo-") as folder, serve_in_thread(build_app(scenario)) as server:
        config = Path(folder) / "ldsentry.toml"
        shutil.copyfile(bundled_config, config)
        pointers = dict(
            line.removeprefix("export ").split("=", 1)
            for line in export_lines(
                server.url,
                scenario.launchdarkly.tokens[0].value,
                scenario.sentry.tokens[0].value,
                scenario.sentry.organization,
            )
        )
        console.print(
            f"ldsentry demo: an emulator of LaunchDarkly and Sentry is running at {server.url}, "
            f"and a copy of sample-config.toml is at {config}. Nothing outside that folder is touched.\n"
        )
        unexpected = []
        with _environment(pointers):
            for number, step in enumerate(STEPS, start=1):
                command = ["ldsentry", *step.args, "--config", str(config)]
                console.print(Rule(f"Step {number} of {len(STEPS)}: {' '.join(command[:1] + list(step.args))}"))
                console.print(step.explanation + "\n")
                code = app([*step.args, "--config", str(config)], prog_name="ldsentry", standalone_mode=False)
                code = int(code or 0)
                console.print(f"[dim]exit code {code}[/]\n")
                if code != step.expected_exit:
                    unexpected.append(f"step {number} exited {code}, expected {step.expected_exit}")
    if unexpected:
        console.print("The demo did not go as expected: " + "; ".join(unexpected) + ".")
        return ExitCode.SERVICE
    console.print(
        "That is ldsentry's job. Next: `ldsentry init` in your repository, `ldsentry doctor` with your real "
        "tokens, and `ldsentry sandbox serve` to try commands by hand against the emulator."
    )
    return ExitCode.OK
