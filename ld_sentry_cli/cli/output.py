"""Print a report in the chosen format: the one place where reporting commands pick a renderer.

Commands hand over three lazy projections of their report (a rich table, a JSON document and the
generic view); only the one the format needs is built. The machine formats are in formats.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from rich.console import RenderableType

from ld_sentry_cli.cli.console import say
from ld_sentry_cli.cli.formats import emit_document
from ld_sentry_cli.cli.options import OutputFormat
from ld_sentry_cli.cli.terminal import print_renderable
from ld_sentry_cli.render.common import TableReport
from ld_sentry_cli.render.view import ReportView

ForPeople = RenderableType | TableReport  # text or a rich table, maybe with notes


def emit_report(
    output: OutputFormat,
    *,
    table: Callable[[], ForPeople],
    document: Callable[[], dict[str, Any]],
    view: Callable[[], ReportView],
) -> None:
    """Print the report as a table, JSON, GitHub annotations, JUnit XML or Markdown."""
    if output is not OutputFormat.TABLE:
        emit_document(output, document=document, view=view)
        return
    made = table()
    rendered, notes = (made.body, made.notes) if isinstance(made, TableReport) else (made, ())
    if isinstance(rendered, str):
        typer.echo(rendered)  # plain text: rich would read `[metric]` in a message as markup
    else:
        print_renderable(rendered)
    for note in notes:
        say(f"note: {note}")  # talk, like every note: stdout holds the report alone
