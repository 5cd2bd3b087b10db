"""`ldsentry sandbox serve`: run the built-in emulator of the LaunchDarkly and Sentry APIs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ld_sentry_cli.cli.console import say
from ld_sentry_cli.cli.extras import require_extra
from ld_sentry_cli.cli.runner import command_errors
from ld_sentry_cli.errors import UsageError
from ld_sentry_cli.hosts import is_loopback_host

if TYPE_CHECKING:
    from ld_sentry_cli.sandbox import Scenario

app = typer.Typer(help="Run the built-in emulator of the LaunchDarkly and Sentry APIs.", no_args_is_help=True)

_LOOPBACK = "127.0.0.1"


def emulator_environment(url: str, scenario: Scenario) -> dict[str, str]:
    """The variables that point ldsentry at an emulator serving scenario (its tokens are not secrets)."""
    return {
        "LD_BASE_URI": url,
        "SENTRY_URL": url,
        "LD_ACCESS_TOKEN": scenario.launchdarkly.tokens[0].value,
        "SENTRY_AUTH_TOKEN": scenario.sentry.tokens[0].value,
        "SENTRY_ORG": scenario.sentry.organization,
    }


def _share(option: str, value: float) -> float:

    if not 0.0 <= value <= 1.0:
        raise UsageError(f"{option} must be a share between 0 and 1, not {value}")
    return value


@app.command("serve")
@command_errors
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; anything but loopback exposes the emulator.")
    ] = _LOOPBACK,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")] = 0,
    scenario: Annotated[
        Optional[Path],  # noqa: UP045 - typer inspects annotations at runtime on 3.10
        typer.Option("--scenario", help="Scenario TOML to seed the emulator. Default: the bundled demo."),
    ] = None,
    latency_ms: Annotated[float, typer.Option("--latency-ms", min=0, help="Latency added to every request.")] = 0,
    fail_rate: Annotated[float, typer.Option("--fail-rate", help="Share of requests answered 5xx (0-1).")] = 0,
    rate_limit_rate: Annotated[
        float, typer.Option("--rate-limit-rate", help="Share of requests answered 429 with reset headers (0-1).")
    ] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the injected faults, for repeatable runs.")] = 0,
) -> None:
    """Serve the emulator and print the `export` lines that point ldsentry at it."""
    require_extra("sandbox", "sandbox serve")
    # The emulator's modules import Starlette: only after require_extra has said what to install.
    from ld_sentry_cli.sandbox import (  # noqa: PLC0415 - the sandbox extra's web stack
        FaultPlan,
        FaultRule,
        ScenarioError,
        build_app,
        demo_scenario_path,
    )
    from ld_sentry_cli.sandbox.server import serve_forever  # noqa: PLC0415 - the sandbox extra's web stack, imported only when this command runs

    faults = FaultPlan(
        seed=seed,
        default=FaultRule(
            latency_ms=latency_ms,
            server_errors=_share("--fail-rate", fail_rate),
            rate_limited=_share("--rate-limit-rate", rate_limit_rate),
        ),
    )
    source = scenario or demo_scenario_path()
    try:
        sandbox = build_app(source, faults=faults)
    except ScenarioError as error:
        raise UsageError(str(error)) from None
    except FileNotFoundError:
        raise UsageError(f"{source}: no such scenario file") from None
    loaded = sandbox.scenario
    if not loaded.launchdarkly.tokens or not loaded.sentry.tokens:
        raise UsageError(f"{source}: the scenario needs a LaunchDarkly token and a Sentry token")
    if not is_loopback_host(host):
        say(f"warning: listening on {host}: anyone who can reach it can use the emulator")

    def announce(url: str) -> None:
        for name, value in emulator_environment(url, loaded).items():
            typer.echo(f"export {name}={value}")
        say(f"Emulator of LaunchDarkly and Sentry serving scenario {loaded.name!r} at {url}; Ctrl+C stops it.")
        say("Paste the export lines above into another shell, then run for example `ldsentry status`.")

    try:
        serve_forever(sandbox, host, port, on_ready=announce)
    except OSError as error:
        raise UsageError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
