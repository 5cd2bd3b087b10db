"""A report as a GitHub-flavoured Markdown table, for pull-request comments and step summaries."""

from __future__ import annotations

import re

from ld_sentry_cli.render.common import BADGES, NONE
from ld_sentry_cli.render.view import Finding, ReportView, ViewRow

_NEWLINES = re.compile(r"\r\n|\r|\n")


def escape_cell(value: str) -> str:
    """Make text safe inside a table cell: `|` escaped, newlines as <br>, no raw HTML tags."""
    # `<` and `>` are neutralised so a hostile name cannot inject HTML into a rendered comment.
    text = value.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return _NEWLINES.sub("<br>", text)


def _finding(finding: Finding, row: ViewRow) -> str:
    where = f" (line {finding.line})" if finding.line is not None and finding.line != row.line else ""
    return f"`{finding.code}`{where}: {escape_cell(finding.message)}"


def markdown(view: ReportView) -> str:
    """A heading, one table row per report row (status, cells, line, problems), the summary and notes."""
    header = ("Status", *view.columns, "Line", "Problems")
    place = f" · {escape_cell(view.file)}" if view.file is not None else ""
    lines = [
        f"### ldsentry {view.command}{place}",
        "",
        escape_cell(view.title),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in view.rows:
        cells = (
            BADGES[row.status],
            *(escape_cell(cell) for cell in row.cells),
            str(row.line) if row.line is not None else NONE,
            "<br>".join(_finding(f, row) for f in row.findings),
        )
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"**{escape_cell(view.summary)}**"]
    if view.notes:
        lines.append("")
        lines += [f"- note `{note.code}`: {escape_cell(note.message)}" for note in view.notes]
    return "\n".join(lines) + "\n"
