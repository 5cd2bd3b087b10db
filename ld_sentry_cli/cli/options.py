"""Options shared by several commands, declared once so their names and help never drift."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Optional

import typer


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


ConfigOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10 for runtime inspection
    typer.Option(
        "--config",
        "-c",
        help="Configuration file. Default: $LDSENTRY_CONFIG, else ./ldsentry.toml.",
        dir_okay=True,
        show_default=False,
    ),
]

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
