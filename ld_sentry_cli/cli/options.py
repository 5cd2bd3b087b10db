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
