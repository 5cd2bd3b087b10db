"""Print a report in the chosen format: the one place where reporting commands pick a renderer.

Commands hand over three lazy projections of their report (a rich table, a JSON document and the
generic view); only the one the format needs is built. In `github` format the step summary and
outputs files named by GitHub's environment variables are appended to as well.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ld_sentry_cli import secrets
from ld_sentry_cli.cli.options import OutputFormat
from ld_sentry_cli.cli.runner import emit_json, stdout_console

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ld_sentry_cli.errors import LdsentryError
    from ld_sentry_cli.render.view import ReportView


def workspace_path(file: str) -> str:
    """The file relative to $GITHUB_WORKSPACE when it lies inside it, so annotations land on the file."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if not workspace:
        return file
    try:
        return Path(file).resolve().relative_to(Path(workspace).resolve()).as_posix()
    except (ValueError, OSError):
        return file


def _append(variable: str, text: str) -> None:
    """Append to the file GitHub names in an environment variable, when it is set."""
    target = os.environ.get(variable)
    if target:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(text)


def _echo(text: str) -> None:
    typer.echo(secrets.redact(text.rstrip("\n")))


def emit_report(
    output: OutputFormat,
    *,
    table: Callable[[], RenderableType],
    document: Callable[[], dict[str, Any]],
    view: Callable[[], ReportView],
) -> None:
    """Print the report as a table, JSON, GitHub annotations, JUnit XML or Markdown."""
    if output is OutputFormat.JSON:
        emit_json(document())
        return
    if output is OutputFormat.TABLE:
        rendered = table()
        if isinstance(rendered, str):
            typer.echo(rendered)  # plain text: rich would read `[metric]` in a message as markup
        else:
            stdout_console().print(rendered)
        return
    from ld_sentry_cli.render.github import github_annotations, step_outputs
    from ld_sentry_cli.render.junit import junit_xml
    from ld_sentry_cli.render.markdown import markdown

    report = view()
    if output is OutputFormat.JUNIT:
        _echo(junit_xml(report))
    elif output is OutputFormat.MARKDOWN:
        _echo(markdown(report))
    else:
        _echo(github_annotations(report, workspace_path))
        _append("GITHUB_STEP_SUMMARY", secrets.redact(markdown(report)) + "\n")
        _append("GITHUB_OUTPUT", step_outputs(report))


def emit_error_annotations(err: LdsentryError) -> None:
    """In `github` format, a failed command also becomes an `::error` annotation on stdout."""
    from ld_sentry_cli.render.github import error_annotations

    _echo(error_annotations(err, workspace_path))
