"""The `ldsentry` command line: a Typer app whose commands live in one module per group.

COMMANDS names each command's module without importing it: the root group (cli/lazy.py, Click's
lazy-group pattern) imports and builds just the command that runs, so `ldsentry --version` loads no
command module, and `ldsentry validate` none of what the live commands import (httpx, rich).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ld_sentry_cli import __version__
from ld_sentry_cli.cli.lazy import LazyCommand, LazyGroup
from ld_sentry_cli.cli.options import RootConfigOption, RootDebugOption, with_shared_options
from ld_sentry_cli.cli.runner import configure, enable_debug, failures_reported, state

if TYPE_CHECKING:
    from typer._click import Command, Context

# Every command, in the order `ldsentry --help` lists them: a function for a single command, a
# typer.Typer for a group of subcommands. This is the one list of commands (help, docs/cli.md,
# completion and dispatch all read it).
COMMANDS = (
    LazyCommand("init", "ld_sentry_cli.cli.init_cmd", "init"),
    LazyCommand("validate", "ld_sentry_cli.cli.validate_cmd", "validate"),
    LazyCommand("status", "ld_sentry_cli.cli.status_cmd", "status"),
    LazyCommand("doctor", "ld_sentry_cli.cli.doctor_cmd", "doctor"),
    LazyCommand("demo", "ld_sentry_cli.cli.demo_cmd", "demo"),
    LazyCommand("mappings", "ld_sentry_cli.cli.mappings_cmd", "app"),
    LazyCommand("metric", "ld_sentry_cli.cli.metric_cmd", "app"),
    LazyCommand("events", "ld_sentry_cli.cli.events_cmd", "app"),
    LazyCommand("tracking", "ld_sentry_cli.cli.tracking_cmd", "app"),
    LazyCommand("sandbox", "ld_sentry_cli.cli.sandbox_cmd", "app"),
    LazyCommand("relay", "ld_sentry_cli.cli.relay_cmd", "app"),
)


class RootGroup(LazyGroup):
    """The `ldsentry` group: the commands of COMMANDS, each imported when it is looked up.

    Every command also accepts --debug after its name, and every failure, Click's own usage errors
    included, is reported in the format the command line asks for (runner.failures_reported).
    """

    registry = COMMANDS

    def prepare(self, command: Command) -> Command:
        """Give the command the options every command shares (--debug, finite numbers)."""
        return with_shared_options(command, enable_debug)

    def make_context(
        self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any
    ) -> Context:
        """Parse the root's own options; a usage error there is reported like any failure."""
        state.argv = (info_name or "ldsentry", *args)
        with failures_reported(self, args):
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Context) -> Any:
        """Run the command (parsing its options first), reporting any failure in the requested format."""
        with failures_reported(self, state.argv[1:]):
            return super().invoke(ctx)


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
    cls=RootGroup,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"ldsentry {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: RootDebugOption = False,
    config: RootConfigOption = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Administer the LaunchDarkly ⇄ Sentry integration as code."""
    # `config` is read by each command's own --config (options.config_from_either_side).
    configure(debug)


def main() -> None:
    """Entry point of the `ldsentry` console script."""
    app()
