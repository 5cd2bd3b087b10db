"""GitHub Actions output: workflow-command annotations on the config lines, and the step outputs.

Escaping follows GitHub's workflow-command rules (actions/toolkit, packages/core/src/command.ts):
in the message `%`, CR and LF are percent-encoded; in properties `:` and `,` are too, since they
separate properties. Annotations show on the line of the `[[mapping]]` table concerned.
"""

from __future__ import annotations

from collections.abc import Callable

from ld_sentry_cli.errors import ConfigInvalidError, LdsentryError
from ld_sentry_cli.problems import Severity
from ld_sentry_cli.render.view import Finding, ReportView


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


def error_annotations(err: LdsentryError, locate: Callable[[str], str] = str) -> str:
    """A failed command as annotations: one per config problem, else one naming the error code."""
    if isinstance(err, ConfigInvalidError) and err.problems:
        return "\n".join(
            workflow_command("error", p.message, file=locate(p.file), line=p.line, title=p.code) for p in err.problems
        )
    message = f"{err.message}\n{err.hint}" if err.hint else err.message
    return workflow_command("error", message, title=err.code.value)
