"""The `status` report as a table and as JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table

from ld_sentry_cli.health import Report
from ld_sentry_cli.render.common import (
    NONE,
    TableReport,
    badge,
    mapping_cells,
    mapping_fields,
    metric_json,
    problem_json,
    summary_json,
)
from ld_sentry_cli.render.footer import table_footer


def status_json(report: Report, strict: bool) -> dict[str, Any]:
    """The versioned JSON document of `status` (without the version key, added on output)."""
    summary = report.summary
    return {
        "event_key": report.event_key,
        "ok": report.ok(strict),
        "summary": summary_json(summary),
        "mappings": [
            {
                **mapping_fields(row.mapping),
                "status": row.status.value,
                "metric": metric_json(row.metric),
                "problems": [problem_json(p) for p in row.problems],
            }
            for row in report.rows
        ],
        "notes": [problem_json(p) for p in report.notes],
    }


def status_table(report: Report) -> TableReport:
    """One row per mapping, a summary line, and the report's notes."""

    table = Table(title=f"Mappings for event key {report.event_key!r}")
    table.add_column("Status", no_wrap=True)
    table.add_column("Sentry project/env", no_wrap=True)
    table.add_column("LaunchDarkly project/env", no_wrap=True)
    table.add_column("Metric", overflow="fold")
    for row in report.rows:
        table.add_row(badge(row.status), *mapping_cells(row.mapping), row.metric.key if row.metric else NONE)
    entries = [(row.status, row.mapping.label, row.problems, ()) for row in report.rows]
    return TableReport.of(Group(table, *table_footer(report.summary, entries)), report.notes)
