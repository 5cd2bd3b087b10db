"""One small, generic view of any report, shared by the CI renderers (GitHub, JUnit, Markdown).

Each report (validate, status, metric check, events check, mappings list) becomes rows with a
label, findings located at config lines, and the cells of a table. The CI renderers know only
this view, so a new report needs one builder here rather than three renderers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ld_sentry_cli.grades import Status, Summary, problems_ok, status_of
from ld_sentry_cli.problems import Problem, Severity
from ld_sentry_cli.render.common import NONE, mapping_cells, percent_cell

# Only types: `validate` builds views on the pre-commit path, where importing the live reports' modules
# (asyncio, rich) would cost more than the check itself.
if TYPE_CHECKING:
    from ld_sentry_cli.errors import ConfigProblem
    from ld_sentry_cli.events_audit import EventsReport
    from ld_sentry_cli.health import Report
    from ld_sentry_cli.metric_report import MetricCheckReport
    from ld_sentry_cli.models import Config, ProjectMapping


@dataclass(frozen=True)
class Finding:
    """One problem as the CI renderers show it: a code, a severity, what to do, and maybe its own line."""

    code: str
    severity: Severity
    message: str
    line: int | None = None  # set when the finding is located more precisely than its row


@dataclass(frozen=True)
class ViewRow:
    """One row: what it is about (label), where it is written (file, line), its findings and table cells."""

    label: str
    file: str | None
    line: int | None
    cells: tuple[str, ...]
    findings: tuple[Finding, ...] = ()

    @property
    def status(self) -> Status:
        """The worst status among the findings (notes count as green)."""
        return status_of(self.findings)


@dataclass(frozen=True)
class ReportView:
    """A report as rows, report-level notes and a one-line summary; `strict` makes amber fail too."""

    command: str  # "status", "metric check", ...: names the JUnit suite and the Markdown heading
    title: str
    file: str | None  # the configuration file, where report-level notes point
    columns: tuple[str, ...]  # headers of the rows' cells
    rows: tuple[ViewRow, ...]
    notes: tuple[Finding, ...] = ()
    strict: bool = False
    summary_text: str | None = None  # None: the counts of rows by status

    @property
    def counts(self) -> Summary:
        """How many rows have each status."""
        return Summary.of(row.status for row in self.rows)

    @property
    def summary(self) -> str:
        """One line for people: the builder's own, else `2 green, 0 amber, 3 red`."""
        if self.summary_text is not None:
            return self.summary_text
        return self.counts.line

    def fails(self, finding: Finding) -> bool:
        """True when the finding fails the command: red, or amber under --strict (as the exit code does)."""
        return not problems_ok([finding], self.strict)


def findings(problems: Iterable[Problem]) -> tuple[Finding, ...]:
    """Report problems as findings located at their row's line."""
    return tuple(Finding(p.code, p.severity, p.message) for p in problems)


def status_view(report: Report, file: str, strict: bool = False) -> ReportView:
    """The `status` report: one row per mapping, at the line of its [[mapping]] table."""
    rows = tuple(
        ViewRow(
            row.mapping.label,
            file,
            row.mapping.line,
            (*mapping_cells(row.mapping), row.metric.key if row.metric else NONE),
            findings(row.problems),
        )
        for row in report.rows
    )
    return ReportView(
        "status",
        f"Mappings for event key {report.event_key!r}",
        file,
        ("Sentry project/env", "LaunchDarkly project/env", "Metric"),
        rows,
        findings(report.notes),
        strict,
    )


def metric_check_view(report: MetricCheckReport, file: str, strict: bool = False) -> ReportView:
    """The `metric check` report: one row per LaunchDarkly project, at the first mapping that names it."""
    rows = tuple(
        ViewRow(
            row.project_key,
            file,
            row.lines[0] if row.lines else None,
            (row.project_key, ", ".join(m.key for m in row.metrics) or NONE),
            findings(row.problems),
        )
        for row in report.rows
    )
    return ReportView(
        "metric check",
        f"LaunchDarkly metrics for event key {report.event_key!r}",
        file,
        ("LaunchDarkly project", "Metric"),
        rows,
        findings(report.notes),
        strict,
    )


def events_view(report: EventsReport, file: str, strict: bool = False) -> ReportView:
    """The `events check` report: one row per mapping with its sample counts."""
    rows = tuple(
        ViewRow(
            row.mapping.label,
            file,
            row.mapping.line,
            (
                *mapping_cells(row.mapping),
                str(row.sampled),
                percent_cell(row.usable_share),
                percent_cell(row.flags_share),  # informational
            ),
            findings(row.problems),
        )
        for row in report.rows
    )
    return ReportView(
        "events check",
        f"launchdarklyContext in error events of the last {report.stats_period} (up to {report.sample_size})",
        file,
        ("Sentry project/env", "LaunchDarkly project/env", "Sampled", "Usable", "Flags"),
        rows,
        findings(report.notes),
        strict,
    )


def mappings_view(mappings: Sequence[ProjectMapping], file: str) -> ReportView:
    """`mappings list`: one green row per mapping, at its line."""
    rows = tuple(
        ViewRow(m.label, file, m.line, (m.sentry_project, m.sentry_environment, m.ld_project, m.ld_environment))
        for m in mappings
    )
    count = len(rows)
    return ReportView(
        "mappings list",
        f"Mappings in {file}",
        file,
        ("Sentry project", "Sentry environment", "LD project", "LD environment"),
        rows,
        summary_text=f"{count} mapping{'s' if count != 1 else ''}",
    )


@dataclass(frozen=True)
class ValidatedFile:
    """One configuration file as `validate` saw it: the config when valid (None otherwise), and its problems."""

    display: str
    config: Config | None
    problems: tuple[ConfigProblem, ...] = ()


def validation_line(result: ValidatedFile) -> str:
    """`✓ ldsentry.toml is valid: 5 mappings, event key "sentry-errors"` or `✗ ldsentry.toml: 2 problems`."""
    if result.config is None:
        count = len(result.problems)
        return f"✗ {result.display}: {count} problem{'s' if count != 1 else ''}"
    count = len(result.config.mappings)
    plural = "mapping" if count == 1 else "mappings"
    return f'✓ {result.display} is valid: {count} {plural}, event key "{result.config.metric.event_key}"'


def validate_view(results: Sequence[ValidatedFile]) -> ReportView:
    """`validate`: one row per file; every config problem is a red finding at its own line."""
    rows = []
    for result in results:
        config = result.config
        rows.append(
            ViewRow(
                result.display,
                result.display,
                None,
                (
                    result.display,
                    str(len(config.mappings)) if config is not None else NONE,
                    config.metric.event_key if config is not None else NONE,
                ),
                tuple(Finding(p.code, Severity.RED, p.message, p.line) for p in result.problems),
            )
        )
    return ReportView(
        "validate",
        "Configuration files",
        results[0].display if len(results) == 1 else None,
        ("Config", "Mappings", "Event key"),
        tuple(rows),
        summary_text="; ".join(validation_line(result) for result in results),
    )
