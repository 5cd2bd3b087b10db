"""GitHub Actions output of a report: workflow-command annotations on the config lines, and the step outputs.

Annotations show on the line of the `[[mapping]]` table concerned; annotations.py writes and escapes them.
"""

from __future__ import annotations

from collections.abc import Callable

from ld_sentry_cli.problems import Severity
from ld_sentry_cli.render.annotations import workflow_command
from ld_sentry_cli.render.view import Finding, ReportView


def _kind(view: ReportView, finding: Finding) -> str:
    if view.fails(finding):
        return "error"
    return "warning" if finding.severity is Severity.AMBER else "notice"


def github_annotations(view: ReportView, locate: Callable[[str], str] = str) -> str:
    """One annotation per finding and note, then the summary line; `locate` maps the file for GitHub."""
    lines = []
    for row in view.rows:
        file = locate(row.file) if row.file is not None else None
        for finding in row.findings:
            line = finding.line if finding.line is not None else row.line
            # The annotation already names the file; a row about the file itself (validate) needs no label.
            message = finding.message if row.label == row.file else f"{row.label}: {finding.message}"
            lines.append(workflow_command(_kind(view, finding), message, file=file, line=line, title=finding.code))
    for note in view.notes:
        file = locate(view.file) if view.file is not None else None
        lines.append(workflow_command(_kind(view, note), note.message, file=file, title=note.code))
    lines.append(f"ldsentry {view.command}: {view.summary}")
    return "\n".join(lines)


def step_outputs(view: ReportView) -> str:
    """`red=N`, `amber=N`, `green=N` lines for $GITHUB_OUTPUT (counts of rows)."""
    counts = view.counts
    return f"red={counts.red}\namber={counts.amber}\ngreen={counts.green}\n"
