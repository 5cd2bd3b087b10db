"""The `mappings discover` report as a table, as JSON and as the generic view (Markdown, GitHub, JUnit)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ld_sentry_cli.discover import Confidence, DiscoverReport, Proposal
from ld_sentry_cli.models import ProjectMapping
from ld_sentry_cli.render.common import NONE, mapping_cells, mapping_fields
from ld_sentry_cli.render.view import ReportView, ViewRow

COLUMNS = ("Sentry project/env", "LaunchDarkly project/env", "Confidence", "Reason")


@dataclass(frozen=True)
class DiscoverOutcome:
    """A discovery and what the command did with it: the threshold, what it wrote and what it skipped."""

    report: DiscoverReport
    min_confidence: Confidence
    written: tuple[ProjectMapping, ...] = ()
    skipped: tuple[tuple[ProjectMapping, str], ...] = ()  # proposals not written, and why
    requests: tuple[int, int] = (0, 0)  # (Sentry, LaunchDarkly)

    @property
    def selected(self) -> tuple[Proposal, ...]:
        """The proposals at or above the threshold."""
        return self.report.at_least(self.min_confidence)

    @property
    def summary(self) -> str:
        """`3 proposals (2 at alias or better), 4 unmatched, 1 hidden, 2 already mapped`."""
        report = self.report
        count = len(report.proposals)
        threshold = f"{len(self.selected)} at {self.min_confidence.label} or better"
        parts = [
            f"{count} proposal{'s' if count != 1 else ''} ({threshold})",
            f"{len(report.unmatched)} unmatched",
            f"{len(report.hidden)} hidden",
            f"{report.already_mapped} already mapped",
        ]
        if self.written:
            parts.append(f"{len(self.written)} written")
        return ", ".join(parts)


def _pair(project: str, environment: str) -> str:
    return f"{project}/{environment}"


def _proposal_cells(proposal: Proposal) -> tuple[str, str, str, str]:
    return (*mapping_cells(proposal.mapping), proposal.confidence.label, proposal.reason)


def discover_json(outcome: DiscoverOutcome, config: str) -> dict[str, Any]:
    """The versioned JSON document of `mappings discover` (without the version key)."""
    report = outcome.report
    selected = set(outcome.selected)
    return {
        "config": config,
        "min_confidence": outcome.min_confidence.label,
        "proposals": [
            {
                "sentry_project": p.mapping.sentry_project,
                "sentry_environment": p.mapping.sentry_environment,
                "ld_project": p.mapping.ld_project,
                "ld_environment": p.mapping.ld_environment,
                "confidence": p.confidence.label,
                "reason": p.reason,
                "selected": p in selected,
            }
            for p in report.proposals
        ],
        "unmatched": [
            {"sentry_project": u.sentry_project, "sentry_environment": u.sentry_environment, "reason": u.reason}
            for u in report.unmatched
        ],
        "hidden": [{"sentry_project": project, "sentry_environment": env} for project, env in report.hidden],
        "unused_launchdarkly": [{"ld_project": project, "ld_environment": env} for project, env in report.unused_ld],
        "already_mapped": report.already_mapped,
        "written": [mapping_fields(m) for m in outcome.written],
        "skipped": [{**mapping_fields(m), "reason": why} for m, why in outcome.skipped],
        "requests": {"sentry": outcome.requests[0], "launchdarkly": outcome.requests[1]},
    }


def _lines(title: str, items: Sequence[str]) -> list[RenderableType]:
    if not items:
        return []
    return [Text(f"\n{title}"), *(Text(f"    {item}") for item in items)]


def discover_table(outcome: DiscoverOutcome) -> RenderableType:
    """The proposals as a table (the ones below the threshold marked), then what stayed unmatched or hidden."""
    report = outcome.report
    selected = set(outcome.selected)
    table = Table(title="Proposed mappings (Sentry → LaunchDarkly)")
    table.add_column("", no_wrap=True)
    for name in COLUMNS:
        table.add_column(name, no_wrap=name != "Reason")
    for proposal in report.proposals:
        mark = "[green]+[/]" if proposal in selected else "[dim]?[/]"
        table.add_row(mark, *(escape(cell) for cell in _proposal_cells(proposal)))
    parts: list[RenderableType] = [table] if report.proposals else [Text("No mappings to propose.")]
    parts.append(Text(outcome.summary))
    if any(p not in selected for p in report.proposals):
        parts.append(Text(f"? below --min-confidence {outcome.min_confidence.label}: shown, not written by --write"))
    parts += _lines(
        "Unmatched Sentry project/env:",
        [f"{_pair(u.sentry_project, u.sentry_environment)}: {u.reason}" for u in report.unmatched],
    )
    parts += _lines(
        "Hidden in Sentry (never proposed; unhide them in Sentry to map them):",
        [_pair(project, env) for project, env in report.hidden],
    )
    parts += _lines(
        "LaunchDarkly environments no mapping or proposal uses:",
        [_pair(project, env) for project, env in report.unused_ld],
    )
    return Group(*parts)


def discover_view(outcome: DiscoverOutcome, file: str) -> ReportView:
    """Proposals, unmatched and hidden Sentry pairs as rows of the generic view."""
    report = outcome.report
    rows = [ViewRow(p.mapping.label, file, None, _proposal_cells(p)) for p in report.proposals]
    rows += [
        ViewRow(
            _pair(u.sentry_project, u.sentry_environment),
            file,
            None,
            (_pair(u.sentry_project, u.sentry_environment), NONE, "unmatched", u.reason),
        )
        for u in report.unmatched
    ]
    rows += [
        ViewRow(_pair(project, env), file, None, (_pair(project, env), NONE, "hidden", "hidden in Sentry"))
        for project, env in report.hidden
    ]
    return ReportView(
        "mappings discover",
        "Proposed mappings (Sentry → LaunchDarkly)",
        file,
        COLUMNS,
        tuple(rows),
        summary_text=outcome.summary,
    )
