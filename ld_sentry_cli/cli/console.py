"""Where the command line writes plain text: data on stdout, talk on stderr, secrets masked on both.

A leaf module: the error reporting (runner.py) and the report formats (formats.py, output.py) write
through it, and it imports neither. Rich consoles, for tables and progress bars, are in terminal.py.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from ld_sentry_cli import secrets

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
