"""Options shared by several commands, declared once so their names and help never drift."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
import typer.core

if TYPE_CHECKING:
    # Only for annotations: typer 0.28 vendors Click as typer._click, older releases use click itself.
    from typer._click import Command, Context, Parameter


class OutputFormat(str, enum.Enum):
    """Output formats of reporting commands (validate, status, metric check, events check, mappings list)."""

    TABLE = "table"
    JSON = "json"
    GITHUB = "github"
    JUNIT = "junit"
    MARKDOWN = "markdown"


class PlainFormat(str, enum.Enum):
    """Output formats of commands that print one result rather than a report of rows."""

    TABLE = "table"
    JSON = "json"


CONFIG_HELP = "Configuration file. Default: $LDSENTRY_CONFIG, else ./ldsentry.toml."


def config_from_either_side(ctx: typer.Context, value: Optional[Path]) -> Optional[Path]:  # noqa: UP045
    """A command's --config, else the one given before the command (`ldsentry --config FILE status`)."""
    before = ctx.find_root().params.get("config")
    if value is None or before is None:
        return value if value is not None else before
    if Path(before) != Path(value):
        raise typer.BadParameter(f"given twice, as {before} before the command and as {value} after it; give it once.")
    return value


def _config_option(help_text: str, **extra: Any) -> Any:
    """The --config option: a command's own and the root's differ only in help and callback."""
    return typer.Option("--config", "-c", help=help_text, dir_okay=True, show_default=False, **extra)


# Help of the root's options that every command accepts too (with_shared_options, ConfigOption).
_AFTER_THE_COMMAND = "Also accepted after the command."

# A command's own --config; the root command accepts it too (RootConfigOption), so it works on both sides.
ConfigOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10 for runtime inspection
    _config_option(CONFIG_HELP, callback=config_from_either_side),
]

RootConfigOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10 for runtime inspection
    _config_option(f"{CONFIG_HELP} {_AFTER_THE_COMMAND}"),
]

DEBUG_HELP = "Show HTTP requests and tracebacks on stderr (secrets masked)."

# The root's --debug; each command gets its own from debug_option, with the same DEBUG_HELP.
RootDebugOption = Annotated[bool, typer.Option("--debug", help=f"{DEBUG_HELP} {_AFTER_THE_COMMAND}")]

# Table stays the default in GitHub Actions too: people read job logs, and CI formats are asked for.
OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        help=(
            "Output format: a table for people, versioned JSON for tools, github (workflow annotations, "
            "step summary and outputs), junit (JUnit XML) or markdown (a table for pull-request comments)."
        ),
    ),
]

PlainOutputOption = Annotated[
    PlainFormat,
    typer.Option("--output", "-o", help="Output format: a table for people or versioned JSON for tools."),
]

StrictOption = Annotated[bool, typer.Option("--strict", help="Fail (exit 1) on amber as well as red.")]

# Sentry event detail requests are paced: the endpoint allows about 5 a second (sentry-api.md §4.3).
EventRateOption = Annotated[
    float,
    typer.Option("--event-rate", min=0.1, help="Event detail requests per second (Sentry allows about 5)."),
]

_PERIOD_UNITS = "smhdw"


def check_period(value: str) -> str:
    """Validate a Sentry statsPeriod such as 30m, 24h or 7d (the `--since` options)."""
    if len(value) < 2 or value[-1] not in _PERIOD_UNITS or not value[:-1].isdigit() or int(value[:-1]) == 0:
        raise typer.BadParameter(f"{value!r} is not a period such as 30m, 24h or 7d (units: s, m, h, d, w).")
    return value


# --- options every command shares, added to each command as it is built (ld_sentry_cli/cli/__init__.py) ---


def debug_option(enable: Callable[[], None]) -> Parameter:
    """`--debug` for a command, so that it may follow the command too; `enable` runs when it is given."""

    def given(ctx: Context, param: Parameter, value: bool) -> None:
        if value:
            enable()

    # A Click parameter built by hand: it is appended to a command Typer has already built, where a
    # typer.Option (a declaration Typer reads only from a function's signature) cannot go.
    return typer.core.TyperOption(
        param_decls=["--debug"],
        is_flag=True,
        default=False,
        expose_value=False,
        is_eager=True,
        callback=given,
        help=DEBUG_HELP,
    )


def _finite(value: Any, ctx: Context, param: Parameter) -> None:
    values = value if isinstance(value, (tuple, list)) else (value,)
    for item in values:
        if isinstance(item, float) and not math.isfinite(item):
            raise typer.BadParameter(f"{item} is not a finite number.", ctx=ctx, param=param)


def require_finite_numbers(param: Parameter) -> None:
    """Make a parameter refuse nan and ±inf, which Click's float type accepts and no ldsentry option means."""
    checked = param.callback

    def callback(ctx: Context, parameter: Parameter, value: Any) -> Any:
        _finite(value, ctx, parameter)
        return checked(ctx, parameter, value) if checked is not None else value

    param.callback = callback


def with_shared_options(command: Command, enable_debug: Callable[[], None]) -> Command:
    """Add --debug to command (to each subcommand of a group) and make its numbers finite; return it."""
    subcommands: Mapping[str, Command] | None = getattr(command, "commands", None)
    if subcommands is not None:
        for subcommand in subcommands.values():
            with_shared_options(subcommand, enable_debug)
        return command
    for param in command.params:
        require_finite_numbers(param)
    command.params.append(debug_option(enable_debug))
    return command
