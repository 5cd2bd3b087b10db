"""Options shared by several commands, declared once so their names and help never drift."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Optional

import typer


class OutputFormat(str, enum.Enum):
    """Output formats of reporting commands."""

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

OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="Output format: a table for people or versioned JSON for tools."),
]
