"""The `ldsentry` command line: a Typer app whose commands live in one module per group.

Only typer is imported here: each command imports what it needs (tomlkit, httpx, rich tables,
starlette) when it runs, so `ldsentry --version` and `--help` start fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ld_sentry_cli import __version__
from ld_sentry_cli.cli import (
    demo_cmd,
    doctor_cmd,
    events_cmd,
    init_cmd,
    mappings_cmd,
    metric_cmd,
    relay_cmd,
    sandbox_cmd,
    status_cmd,
    validate_cmd,
)
from ld_sentry_cli.cli.runner import configure

app = typer.Typer(
    name="ldsentry",
    help=(
        "Administer the LaunchDarkly ⇄ Sentry integration as code: keep the event key and the "
        "mappings in a reviewed TOML file, check them offline and live, repair missing metrics."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"ldsentry {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show HTTP requests and tracebacks on stderr (secrets masked).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Administer the LaunchDarkly ⇄ Sentry integration as code."""
    configure(debug)


app.command("init")(init_cmd.init)
app.command("validate")(validate_cmd.validate)
app.add_typer(mappings_cmd.app, name="mappings")
app.add_typer(metric_cmd.app, name="metric")
app.command("status")(status_cmd.status)
app.add_typer(events_cmd.app, name="events")
app.command("doctor")(doctor_cmd.doctor)
app.command("demo")(demo_cmd.demo)
app.add_typer(sandbox_cmd.app, name="sandbox")
app.add_typer(relay_cmd.app, name="relay")


def main() -> None:
    """Entry point of the `ldsentry` console script."""
    app()
