"""`ldsentry sandbox serve`: run the built-in emulator of the LaunchDarkly and Sentry APIs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ld_sentry_cli.cli.runner import command_errors, say

app = typer.Typer(help="Run the built-in emulator of the LaunchDarkly and Sentry APIs.", no_args_is_help=True)

_LOOPBACK = "127.0.0.1"


def export_lines(url: str, ld_token: str, sentry_token: str, organization: str) -> list[str]:
    """The shell lines that point ldsentry at an emulator (the emulator's tokens are not secrets)."""
    return [
        f"export LD_BASE_URI={url}",
        f"export SENTRY_URL={url}",
        f"export LD_ACCESS_TOKEN={ld_token}",
        f"export SENTRY_AUTH_TOKEN={sentry_token}",
        f"export SENTRY_ORG={organization}",
    ]


def _share(option: str, value: float) -> float:
    from ld_sentry_cli.errors import UsageError

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
    from ld_sentry_cli.errors import UsageError
    from ld_sentry_cli.sandbox import FaultPlan, FaultRule, ScenarioError, build_app, demo_scenario_path
    from ld_sentry_cli.sandbox.server import serve_forever

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
    if host != _LOOPBACK:
        say(f"warning: listening on {host}: anyone who can reach it can use the emulator")

    def announce(url: str) -> None:
        for line in export_lines(
            url,
            loaded.launchdarkly.tokens[0].value,
            loaded.sentry.tokens[0].value,
            loaded.sentry.organization,
        ):
            typer.echo(line)
        say(f"Emulator of LaunchDarkly and Sentry serving scenario {loaded.name!r} at {url}; Ctrl+C stops it.")
        say("Paste the export lines above into another shell, then run for example `ldsentry status`.")

    try:
        serve_forever(sandbox, host, port, on_ready=announce)
    except OSError as error:
        raise UsageError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
