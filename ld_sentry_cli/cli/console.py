"""Where the command line writes: data on stdout, talk on stderr, secrets masked on both.

A leaf module: the error reporting (runner.py) and the report formats (output.py) both write
through it, and it imports neither.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import typer

from ld_sentry_cli import secrets

if TYPE_CHECKING:
    from rich.console import Console

JSON_VERSION = 1


def say(message: str) -> None:
    """Print a line of talk on stderr (secrets masked)."""
    typer.echo(secrets.redact(message), err=True)


def echo(text: str) -> None:
    """Print data on stdout (secrets masked), without a trailing blank line."""
    typer.echo(secrets.redact(text.rstrip("\n")))


def json_text(payload: dict[str, Any]) -> str:
    """The versioned JSON document of payload; NaN and infinities are refused, since JSON has no such numbers."""
    return json.dumps({"version": JSON_VERSION, **payload}, indent=2, ensure_ascii=False, allow_nan=False)


def emit_json(payload: dict[str, Any]) -> None:
    """Print a versioned JSON document on stdout (secrets masked)."""
    typer.echo(secrets.redact(json_text(payload)))


def stdout_console() -> Console:
    """A console for data on stdout (honours NO_COLOR; plain text when not a terminal)."""
    # Deferred: rich costs about 20 ms to import, and `--version` and `validate` (the pre-commit
    # hook) print no rich renderable; only the commands that draw a table pay for it (bench/status.py).
    from rich.console import Console  # noqa: PLC0415 - see above

    console = Console(highlight=False, soft_wrap=False)
    # Rich assumes 80 columns off a terminal; CI logs show long lines, so tables need not squeeze.
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 120
    return console


def stderr_console() -> Console:
    """A console for talk on stderr: progress, warnings and hints."""
    from rich.console import Console  # noqa: PLC0415 - deferred as in stdout_console

    return Console(stderr=True, highlight=False)
