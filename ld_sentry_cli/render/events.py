"""The `events check` report as a table and as JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ld_sentry_cli.events_audit import EventsReport
from ld_sentry_cli.render.common import (
    TableReport,
    badge,
    mapping_cells,
    mapping_fields,
    percent_cell,
    problem_json,
)
from ld_sentry_cli.render.footer import table_footer
from ld_sentry_cli.scrubbing import ScrubbingAudit


def events_json(report: EventsReport, strict: bool) -> dict[str, Any]:
    """The versioned JSON document of `events check` (without the version key)."""
    return {
        "since": report.stats_period,
        "max_events": report.sample_size,
        "min_usable": report.min_usable,
        "ok": report.ok(strict),
        "mappings": [
            {
                **mapping_fields(row.mapping),
                "status": row.status.value,
                "sampled": row.sampled,
                "usable": row.usable,
                "missing": row.missing,
                "misnamed": row.misnamed,
                "invalid": row.invalid,
                "usable_share": row.usable_share,
                "examples": {kind.value: url for kind, url in row.examples.items()},
                "with_flags": row.with_flags,
                "flags_share": row.flags_share,
                "scrubbing": scrubbing_json(row.scrubbing),
                "problems": [problem_json(p) for p in row.problems],
            }
            for row in report.rows
        ],
        "notes": [problem_json(p) for p in report.notes],
    }


def scrubbing_json(result: ScrubbingAudit | None) -> dict[str, Any] | None:
    """A row's scrubbing audit in JSON: null when the settings were not read."""
    if result is None:
        return None
    return {
        "organization_known": result.organization_known,
        "exempt": result.exempt,
        "risks": [
            {
                "member": r.member,
                "setting": r.setting,
                "why": r.why,
                "fix": r.fix,
                "seen": r.seen,
                "certain": r.certain,
                "essential": r.essential,
            }
            for r in result.risks
        ],
    }


def events_table(report: EventsReport) -> TableReport:
    """One row per mapping: counts per context class, the usable share, problems and example links."""

    table = Table(
        title=f"launchdarklyContext in error events of the last {report.stats_period} (up to {report.sample_size})",
    )
    table.add_column("Status", no_wrap=True)
    table.add_column("Sentry project/env", no_wrap=True)
    table.add_column("LD project/env", no_wrap=True)
    for name in ("Sampled", "Usable", "Missing", "Misnamed", "Invalid", "Usable %", "Flags %"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in report.rows:
        table.add_row(
            badge(row.status),
            *mapping_cells(row.mapping),
            str(row.sampled),
            str(row.usable),
            str(row.missing),
            str(row.misnamed),
            str(row.invalid),
            percent_cell(row.usable_share),
            percent_cell(row.flags_share),
        )
    entries = [
        (
            row.status,
            row.mapping.label,
            row.problems,
            tuple(f"example {kind.value} event: {url}" for kind, url in row.examples.items()),
        )
        for row in report.rows
    ]
    flags = Text("Flags %: sampled events with a `flags` context (Sentry's evaluation tracking); informational.")
    return TableReport.of(Group(table, *table_footer(report.summary, entries), flags), report.notes)
