"""`tracking check` and `tracking setup` as tables, JSON and the CI view.

Secrets never reach these functions: the domain masks request bodies, and the LaunchDarkly
client keeps no webhook secret in the webhooks it returns.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ld_sentry_cli.render.common import NONE, badge, problem_json, summary_json
from ld_sentry_cli.render.footer import PROBLEMS_HEADING, problem_lines
from ld_sentry_cli.render.view import ReportView, ViewRow, findings
from ld_sentry_cli.tracking import SetupPlan, TrackingReport
from ld_sentry_cli.tracking_models import LdWebhook

if TYPE_CHECKING:
    from rich.console import RenderableType


def webhook_json(webhook: LdWebhook | None) -> dict[str, Any] | None:
    """A webhook in JSON outputs (never its secret)."""
    if webhook is None:
        return None
    return {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "on": webhook.on,
        "signed": webhook.signed,
        "tags": list(webhook.tags),
        "statements": [s.to_json() for s in webhook.statements],
    }


def _webhook_cell(webhook: LdWebhook | None) -> str:
    if webhook is None:
        return NONE
    state = ("on" if webhook.on else "off") + (", signed" if webhook.signed else ", unsigned")
    return f"{webhook.id} ({state})"


def tracking_json(report: TrackingReport, strict: bool) -> dict[str, Any]:
    """The versioned JSON document of `tracking check` (without the version key)."""
    return {
        "ok": report.ok(strict),
        "status": report.status.value,
        "hook_url": report.hook_url,
        "webhook": webhook_json(report.webhook),
        "summary": summary_json(report.summary),
        "problems": [problem_json(p) for p in report.problems],
        "environments": [
            {
                "ld_project": row.ld_project,
                "ld_environment": row.ld_environment,
                "line": row.line,
                "covered": row.covered,
                "status": row.status.value,
                "problems": [problem_json(p) for p in row.problems],
            }
            for row in report.rows
        ],
    }


def _covered_cell(covered: bool | None) -> str:
    return NONE if covered is None else ("yes" if covered else "no")


def tracking_table(report: TrackingReport) -> RenderableType:
    """The webhook, one row per mapped LaunchDarkly environment, and each problem once with what to do."""

    table = Table(title="Flag change tracking: LaunchDarkly → Sentry")
    table.add_column("Status", no_wrap=True)
    table.add_column("LaunchDarkly project/env", no_wrap=True)
    table.add_column("Sent to Sentry", no_wrap=True)
    for row in report.rows:
        table.add_row(badge(row.status), row.label, _covered_cell(row.covered))
    parts: list[RenderableType] = [
        Text.from_markup(f"{badge(report.status)} tracking"),
        Text(f"Sentry hook URL: {report.hook_url}"),
        Text(f"LaunchDarkly webhook: {_webhook_cell(report.webhook)}"),
    ]
    if report.rows:
        parts += [table, Text(report.summary.line)]
    if report.problems:
        parts += [Text(PROBLEMS_HEADING), *problem_lines(report.problems)]
    return Group(*parts)


def tracking_view(report: TrackingReport, file: str, strict: bool = False) -> ReportView:
    """`tracking check` for the CI renderers: one row per mapped environment (or the webhook alone)."""
    rows = tuple(
        ViewRow(row.label, file, row.line, (row.label, _covered_cell(row.covered)), findings(row.problems))
        for row in report.rows
    )
    if not rows:
        rows = (ViewRow("webhook", file, None, ("all", _webhook_cell(report.webhook)), findings(report.problems)),)
    return ReportView(
        "tracking check",
        "Flag change tracking: LaunchDarkly → Sentry",
        file,
        ("LaunchDarkly project/env", "Sent to Sentry"),
        rows,
        strict=strict,
    )


def setup_json(plan: SetupPlan, *, dry_run: bool, result: LdWebhook | None, sentry: dict[str, Any]) -> dict[str, Any]:
    """The versioned JSON document of `tracking setup` (without the version key); bodies are masked."""
    if plan.unchanged:
        action = "unchanged"
    elif plan.webhook is None:
        action = "would_create" if dry_run else "created"
    else:
        action = "would_update" if dry_run else "updated"
    return {
        "dry_run": dry_run,
        "action": action,
        "hook_url": plan.hook_url,
        "webhook": webhook_json(result or plan.webhook),
        "resources": list(plan.resources),
        "requests": [
            {"method": r.method, "path": r.path, "purpose": r.purpose, "body": r.masked_body()} for r in plan.requests
        ],
        "sentry": sentry,
    }


def request_lines(method: str, path: str, body: Any) -> str:
    """A request as a dry run shows it: `METHOD path` and the indented JSON body."""
    return f"{method} {path}\n{json.dumps(body, indent=2)}"
