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
from ld_sentry_cli.cli.console import echo, emit_json, say, stdout_console
from ld_sentry_cli.cli.options import OutputFormat
from ld_sentry_cli.render.annotations import workspace_path
from ld_sentry_cli.render.common import TableReport
from ld_sentry_cli.render.github import github_annotations, step_outputs
from ld_sentry_cli.render.junit import junit_xml
from ld_sentry_cli.render.markdown import markdown
from ld_sentry_cli.render.view import ReportView

if TYPE_CHECKING:
    from rich.console import RenderableType

    ForPeople = RenderableType | TableReport  # text or a rich table, maybe with notes


def _append(variable: str, text: str) -> None:
    """Append to the file GitHub names in an environment variable, when it is set."""
    target = os.environ.get(variable)
    if target:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(text)


def print_renderable(renderable: RenderableType) -> None:
    """Print a rich renderable on stdout; a table too wide for the terminal becomes one block per row."""
    # Deferred with rich itself (console.py says why): only commands that draw a table load it.
    from ld_sentry_cli.render.layout import fitted  # noqa: PLC0415 - see above

    stdout_console().print(fitted(renderable))


def emit_report(
    output: OutputFormat,
    *,
    table: Callable[[], ForPeople],
    document: Callable[[], dict[str, Any]],
    view: Callable[[], ReportView],
) -> None:
    """Print the report as a table, JSON, GitHub annotations, JUnit XML or Markdown."""
    if output is OutputFormat.JSON:
        emit_json(document())
        return
    if output is OutputFormat.TABLE:
        made = table()
        rendered, notes = (made.body, made.notes) if isinstance(made, TableReport) else (made, ())
        if isinstance(rendered, str):
            typer.echo(rendered)  # plain text: rich would read `[metric]` in a message as markup
        else:
            print_renderable(rendered)
        for note in notes:
            say(f"note: {note}")  # talk, like every note: stdout holds the report alone
        return
    report = view()
    if output is OutputFormat.JUNIT:
        echo(junit_xml(report))
    elif output is OutputFormat.MARKDOWN:
        echo(markdown(report))
    else:
        echo(github_annotations(report, workspace_path))
        _append("GITHUB_STEP_SUMMARY", secrets.redact(markdown(report)) + "\n")
        _append("GITHUB_OUTPUT", step_outputs(report))
