"""`ldsentry demo`: ldsentry's whole job on the built-in emulator, in one command, with no accounts."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import httpx
from rich.rule import Rule

from ld_sentry_cli.cli import app
from ld_sentry_cli.cli.demo_script import STEPS, environment
from ld_sentry_cli.cli.extras import require_extra
from ld_sentry_cli.cli.runner import command_errors
from ld_sentry_cli.cli.sandbox_cmd import emulator_environment
from ld_sentry_cli.cli.terminal import stdout_console
from ld_sentry_cli.errors import ExitCode


def change_flag(url: str, project: str, environment: str, flag: str) -> tuple[list[str], int]:
    """Change a flag in the emulator and report each delivery and what Sentry logged; exit 0 when Sentry took it."""

    body = {"project": project, "environment": environment, "flag": flag, "action": "updateOn"}
    with httpx.Client(base_url=url, trust_env=False) as client:
        deliveries = client.post("/_sandbox/flag-change", json=body).json()["deliveries"]
        logged = [e for e in client.get("/_sandbox/flag-log").json()["entries"] if e["flag"] == flag]
    lines = [
        f"LaunchDarkly → {d['url']}: {'signed' if d['signed'] else 'unsigned'}, Sentry answered {d['status']}"
        for d in deliveries
    ] or ["No LaunchDarkly webhook sent this change."]
    ok = bool(deliveries) and all(d["status"] == 200 for d in deliveries) and bool(logged)
    if logged:
        lines.append(f"Sentry's flag log: {logged[-1]['action']} of {flag!r} by {logged[-1]['created_by']}.")
    return lines, 0 if ok else 1


@command_errors
def demo() -> int:
    """Show ldsentry's whole job on the built-in emulator: validate, status, repair, events, flag change tracking."""
    require_extra("sandbox", "demo")
    # The emulator's modules import Starlette: only after require_extra has said what to install.
    from ld_sentry_cli.sandbox import (  # noqa: PLC0415 - the sandbox extra's web stack
        build_app,
        demo_scenario_path,
        load_demo_scenario,
        serve_in_thread,
    )

    console = stdout_console()
    scenario = load_demo_scenario()
    bundled_config = demo_scenario_path().with_name("demo-config.toml")
    with tempfile.TemporaryDirectory(prefix="ldsentry-demo-") as folder, serve_in_thread(build_app(scenario)) as server:
        config = Path(folder) / "ldsentry.toml"
        shutil.copyfile(bundled_config, config)
        console.print(
            f"ldsentry demo: an emulator of LaunchDarkly and Sentry is running at {server.url}, "
            f"and a copy of sample-config.toml is at {config}. Nothing outside that folder is touched.\n"
        )
        unexpected = []
        with environment(emulator_environment(server.url, scenario)):
            for number, step in enumerate(STEPS, start=1):
                console.print(Rule(f"Step {number} of {len(STEPS)}: {step.title}"))
                console.print(step.explanation + "\n")
                if step.flag_change is not None:
                    lines, code = change_flag(server.url, *step.flag_change)
                    console.print("\n".join(lines), markup=False)
                else:
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
