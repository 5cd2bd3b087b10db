"""The `metric check` and `metric create` reports as tables and JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ld_sentry_cli.metric_report import MetricCheckReport
from ld_sentry_cli.render.common import NONE, TableReport, badge, metric_json, problem_json, summary_json
from ld_sentry_cli.render.footer import table_footer
from ld_sentry_cli.repair import RepairAction, RepairReport

ACTION_LABELS = {
    RepairAction.CREATED: "[green]created[/]",
    RepairAction.PRESENT: "[green]present[/]",
    RepairAction.WOULD_CREATE: "[cyan]would create[/]",
    RepairAction.CONFLICT: "[bold red]conflict[/]",
    RepairAction.SKIPPED_PROJECT_MISSING: "[bold red]project missing[/]",
    RepairAction.FAILED: "[bold red]failed[/]",
}


if TYPE_CHECKING:
    from rich.console import RenderableType


def metric_check_json(report: MetricCheckReport, strict: bool) -> dict[str, Any]:
    """The versioned JSON document of `metric check` (without the version key)."""
    summary = report.summary
    return {
        "event_key": report.event_key,
        "ok": report.ok(strict),
        "summary": summary_json(summary),
        "projects": [
            {
                "ld_project": row.project_key,
                "status": row.status.value,
                "metrics": [metric_json(m) for m in row.metrics],
                "problems": [problem_json(p) for p in row.problems],
            }
            for row in report.rows
        ],
        "notes": [problem_json(p) for p in report.notes],
    }


def metric_check_table(report: MetricCheckReport) -> TableReport:
    """One row per LaunchDarkly project."""

    table = Table(title=f"LaunchDarkly metrics for event key {report.event_key!r}")
    table.add_column("Status", no_wrap=True)
    table.add_column("LaunchDarkly project", no_wrap=True)
    table.add_column("Metric", overflow="fold")
    for row in report.rows:
        keys = ", ".join(m.key for m in row.metrics) or NONE
        table.add_row(badge(row.status), row.project_key, keys)
    entries = [(row.status, row.project_key, row.problems, ()) for row in report.rows]
    return TableReport.of(Group(table, *table_footer(report.summary, entries)), report.notes)


def repair_json(report: RepairReport, dry_run: bool) -> dict[str, Any]:
    """The versioned JSON document of `metric create` (without the version key)."""
    return {
        "dry_run": dry_run,
        "ok": report.ok,  # a failed project is not done, so this is false after a failure too
        "projects": [
            {
                "ld_project": result.project_key,
                "action": result.action.value,
                "message": result.message,
                "metric": metric_json(result.metric),
                "body": dict(result.body) if result.body is not None else None,
                "problems": [problem_json(p) for p in result.problems],
            }
            for result in report.results
        ],
    }


def repair_table(report: RepairReport, dry_run: bool) -> RenderableType:
    """What was (or would be) done per project; in a dry run, the exact bodies."""

    table = Table(title="Dry run: nothing was sent" if dry_run else "Metric creation", show_lines=True)
    table.add_column("LaunchDarkly project", no_wrap=True)
    table.add_column("Action", no_wrap=True)
    table.add_column("What happened")
    for result in report.results:
        table.add_row(result.project_key, ACTION_LABELS[result.action], Text(result.message))
    parts: list[RenderableType] = [table]
    for result in report.results:
        if dry_run and result.action is RepairAction.WOULD_CREATE and result.body is not None:
            parts.append(Text(f"POST /api/v2/metrics/{result.project_key}"))
            parts.append(Text(json.dumps(dict(result.body), indent=2)))
    return Group(*parts)
