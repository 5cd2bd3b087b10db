"""The `metric check` report: one row per LaunchDarkly project, graded for the configured event key."""

from __future__ import annotations

from collections.abc import Mapping as MappingType
from collections.abc import Sequence
from dataclasses import dataclass

from ld_sentry_cli.health import LdFacts, Status, Summary, grade_metrics, problems_ok, status_of
from ld_sentry_cli.models import LdMetric, Mapping, MetricSettings
from ld_sentry_cli.problems import Problem, problem
from ld_sentry_cli.suggest import did_you_mean


@dataclass(frozen=True)
class ProjectRow:
    """One LaunchDarkly project: its usable metrics for the event key (best first) and problems."""

    project_key: str
    metrics: tuple[LdMetric, ...] = ()
    problems: tuple[Problem, ...] = ()
    lines: tuple[int, ...] = ()  # config lines of the mappings naming this project

    @property
    def status(self) -> Status:
        """The worst status among the row's problems."""
        return status_of(self.problems)


@dataclass(frozen=True)
class MetricCheckReport:
    """Every checked project, and report-level notes."""

    event_key: str
    rows: tuple[ProjectRow, ...]
    notes: tuple[Problem, ...] = ()

    @property
    def summary(self) -> Summary:
        """Counts of rows by status."""
        return Summary.of(row.status for row in self.rows)

    def ok(self, strict: bool = False) -> bool:
        """True when nothing is red (nor amber under strict)."""
        return problems_ok([p for row in self.rows for p in row.problems] + list(self.notes), strict)


def project_row(
    facts: LdFacts, settings: MetricSettings, known_projects: Sequence[str] | None, lines: tuple[int, ...] = ()
) -> ProjectRow:
    """Grade one project from its facts."""
    if facts.project is None:
        hint = did_you_mean(facts.key, known_projects or ())
        missing = problem(
            "ld_project_missing",
            f"LaunchDarkly project '{facts.key}' does not exist{hint}; fix `ld_project` in the mappings that name it.",
        )
        return ProjectRow(facts.key, problems=(missing,), lines=lines)
    if facts.metrics_error is not None:
        unavailable = problem(
            "ld_metrics_unavailable",
            f"Could not list the metrics of LaunchDarkly project '{facts.key}': {facts.metrics_error.message}",
        )
        return ProjectRow(facts.key, problems=(unavailable,), lines=lines)
    verdict = grade_metrics(facts.metrics, settings)
    return ProjectRow(facts.key, verdict.metrics, verdict.problems, lines)


def build_metric_check(
    keys: Sequence[str],
    facts: MappingType[str, LdFacts],
    settings: MetricSettings,
    mappings: Sequence[Mapping],
    known_projects: Sequence[str] | None = None,
) -> MetricCheckReport:
    """The report for `keys`, in order, from the fetched facts."""
    rows = []
    for key in keys:
        lines = tuple(m.line for m in mappings if m.ld_project == key and m.line is not None)
        rows.append(project_row(facts[key], settings, known_projects, lines))
    return MetricCheckReport(settings.event_key, tuple(rows))
