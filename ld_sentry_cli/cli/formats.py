"""Print a report in a machine format: JSON, GitHub annotations, JUnit XML or Markdown.

No rich here: `validate`, which the pre-commit hook runs on every commit, prints its table as plain
text and reaches these formats without loading it (docs/design.md "Layers"). In `github` format the
step summary and outputs files named by GitHub's environment variables are appended to as well.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ld_sentry_cli import secrets
from ld_sentry_cli.cli.console import echo, emit_json
from ld_sentry_cli.cli.options import OutputFormat
from ld_sentry_cli.render.annotations import workspace_path
from ld_sentry_cli.render.github import github_annotations, step_outputs
from ld_sentry_cli.render.junit import junit_xml
from ld_sentry_cli.render.markdown import markdown
from ld_sentry_cli.render.view import ReportView


def _append(variable: str, text: str) -> None:
    """Append to the file GitHub names in an environment variable, when it is set."""
    target = os.environ.get(variable)
    if target:
        with Path(target).open("a", encoding="utf-8") as handle:
            handle.write(text)


def emit_document(
    output: OutputFormat, *, document: Callable[[], dict[str, Any]], view: Callable[[], ReportView]
) -> None:
    """Print the report as JSON (from `document`) or as annotations, JUnit XML or Markdown (from `view`)."""
    if output is OutputFormat.JSON:
        emit_json(document())
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
