"""Pieces every renderer shares: status badges, problem and metric JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ld_sentry_cli.grades import Status, Summary
from ld_sentry_cli.models import ProjectMapping
from ld_sentry_cli.problems import Problem

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ld_sentry_cli.api_models import LdMetric

# Text first, colour second: a CI log without ANSI still reads GREEN/AMBER/RED.
BADGES = {Status.GREEN: "✓ GREEN", Status.AMBER: "! AMBER", Status.RED: "✗ RED"}
STYLES = {Status.GREEN: "green", Status.AMBER: "yellow", Status.RED: "bold red"}
NONE = "—"  # an empty cell, in tables and CI views alike


def badge(status: Status) -> str:
    """Rich markup for a status: symbol and word, coloured."""
    return f"[{STYLES[status]}]{BADGES[status]}[/]"


def percent_cell(share: float | None) -> str:
    """A share as a whole percentage (`93%`), or the empty cell when there is none (nothing was sampled)."""
    return f"{share:.0%}" if share is not None else NONE


def problem_json(problem: Problem) -> dict[str, Any]:
    """A problem in JSON outputs."""
    return {"code": problem.code, "severity": problem.severity.value, "message": problem.message}


def metric_json(metric: LdMetric | None) -> dict[str, Any] | None:
    """A metric in JSON outputs (the fields status reports promise)."""
    if metric is None:
        return None
    return {
        "key": metric.key,
        "name": metric.name,
        "event_key": metric.event_key,
        "is_numeric": metric.is_numeric,
        "success_criteria": metric.success_criteria,
        "unit_aggregation_type": metric.unit_aggregation_type,
        "archived": metric.archived,
        "last_seen": metric.last_seen,
    }


def mapping_fields(mapping: ProjectMapping) -> dict[str, Any]:
    """The four mapping keys and the config line, for JSON rows."""
    return {
        "sentry_project": mapping.sentry_project,
        "sentry_environment": mapping.sentry_environment,
        "ld_project": mapping.ld_project,
        "ld_environment": mapping.ld_environment,
        "line": mapping.line,
    }


def mapping_cells(mapping: ProjectMapping) -> tuple[str, str]:
    """The `project/environment` cells of a mapping's Sentry and LaunchDarkly sides, for tables."""
    return (
        f"{mapping.sentry_project}/{mapping.sentry_environment}",
        f"{mapping.ld_project}/{mapping.ld_environment}",
    )


def summary_json(summary: Summary) -> dict[str, int]:
    """The `summary` member of JSON reports."""
    return {"green": summary.green, "amber": summary.amber, "red": summary.red}


@dataclass(frozen=True)
class TableReport:
    """A report for people: the table and what follows it (stdout), and the report's notes (talk, for stderr)."""

    body: RenderableType
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, body: RenderableType, notes: Sequence[Problem]) -> TableReport:
        """The body with the messages of notes."""
        return cls(body, tuple(note.message for note in notes))
