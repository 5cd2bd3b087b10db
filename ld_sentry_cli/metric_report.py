"""The `metric check` report: one row per LaunchDarkly project, graded for the configured event key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ld_sentry_cli.api_models import LdMetric
from ld_sentry_cli.grades import GradedReport, GradedRow
from ld_sentry_cli.health import LdFacts, grade_metrics, missing_ld_project, unavailable_metrics
from ld_sentry_cli.models import MetricSettings, ProjectMapping
from ld_sentry_cli.problems import Problem


@dataclass(frozen=True)
class ProjectRow(GradedRow):
    """One LaunchDarkly project: its usable metrics for the event key (best first) and problems."""

    project_key: str
    metrics: tuple[LdMetric, ...] = ()
    problems: tuple[Problem, ...] = ()
    lines: tuple[int, ...] = ()  # config lines of the mappings naming this project


@dataclass(frozen=True)
class MetricCheckReport(GradedReport):
    """Every checked project, and report-level notes."""

    event_key: str
    rows: tuple[ProjectRow, ...]
    notes: tuple[Problem, ...] = ()


def project_row(
    facts: LdFacts, settings: MetricSettings, known_projects: Sequence[str] | None, lines: tuple[int, ...] = ()
) -> ProjectRow:
    """Grade one project from its facts."""
    if facts.project is None:
        missing = missing_ld_project(facts.key, known_projects or (), "the mappings that name it")
        return ProjectRow(facts.key, problems=(missing,), lines=lines)
    if facts.metrics_error is not None:
        unavailable = unavailable_metrics(facts.key, facts.metrics_error)
        return ProjectRow(facts.key, problems=(unavailable,), lines=lines)
    verdict = grade_metrics(facts.metrics, settings, facts.experiment_units)
    return ProjectRow(facts.key, verdict.metrics, verdict.problems, lines)


def build_metric_check(
    keys: Sequence[str],
    facts: Mapping[str, LdFacts],
    settings: MetricSettings,
    mappings: Sequence[ProjectMapping],
    known_projects: Sequence[str] | None = None,
) -> MetricCheckReport:
    """The report for `keys`, in order, from the fetched facts."""
    # One pass over the mappings rather than one per project: a config may hold a thousand of each.
    lines: dict[str, list[int]] = {}
    for mapping in mappings:
        if mapping.line is not None:
            lines.setdefault(mapping.ld_project, []).append(mapping.line)
    rows = (project_row(facts[key], settings, known_projects, tuple(lines.get(key, ()))) for key in keys)
    return MetricCheckReport(settings.event_key, tuple(rows))
