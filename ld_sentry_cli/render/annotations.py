"""GitHub workflow commands (`::error file=…,line=…,title=…::message`) and where their files lie.

Escaping follows GitHub's workflow-command rules (actions/toolkit, packages/core/src/command.ts):
in the message `%`, CR and LF are percent-encoded; in properties `:` and `,` are too, since they
separate properties. Kept apart from the report renderer (github.py) because a failed command of
any kind becomes an annotation, before any report exists.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ld_sentry_cli.errors import ConfigInvalidError, LdsentryError


def escape_data(value: str) -> str:
    """Escape a workflow command's message."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command's property value (file, title)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def workflow_command(
    kind: str, message: str, *, file: str | None = None, line: int | None = None, title: str | None = None
) -> str:
    """One `::kind file=…,line=…,title=…::message` line; absent properties are left out."""
    properties = []
    if file is not None:
        properties.append(f"file={escape_property(file)}")
        if line is not None:
            properties.append(f"line={line}")
    if title is not None:
        properties.append(f"title={escape_property(title)}")
    head = f"::{kind} {','.join(properties)}" if properties else f"::{kind}"
    return f"{head}::{escape_data(message)}"


def workspace_path(file: str) -> str:
    """The file relative to $GITHUB_WORKSPACE when it lies inside it, so annotations land on the file."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if not workspace:
        return file
    try:
        return Path(file).resolve().relative_to(Path(workspace).resolve()).as_posix()
    except (ValueError, OSError):
        return file


def error_annotations(err: LdsentryError, locate: Callable[[str], str] = str) -> str:
    """A failed command as annotations: one per config problem, else one naming the error code."""
    if isinstance(err, ConfigInvalidError) and err.problems:
        return "\n".join(
            workflow_command("error", p.message, file=locate(p.file), line=p.line, title=p.code) for p in err.problems
        )
    message = f"{err.message}\n{err.hint}" if err.hint else err.message
    return workflow_command("error", message, title=err.code.value)
