"""Grading: the metrics of a LaunchDarkly project, and the status report built from config + facts.

Pure functions only. The facts are fetched by `gather`; rendering and exit codes belong to the CLI.
Metric rules follow docs/launchdarkly-api.md §1.3-1.4: the integration needs a custom
conversion metric (`kind` custom, `isNumeric` false) whose `eventKey` equals the configured key.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from .api_models import LdMetric, LdProject, SentryEnvironment, SentryProject
from .errors import ServiceError
from .grades import GradedReport, GradedRow, Status, status_of
from .models import Config, MetricKind, MetricSettings, ProjectMapping
from .problems import Problem, Severity, problem
from .suggest import did_you_mean

CREATE_HINT = "run `ldsentry metric create`"
# `dataSource.key` of metrics on events sent to LaunchDarkly itself (launchdarkly-api.md §1.7).
HOSTED_DATA_SOURCE = "launchdarkly-hosted"


# --- Metric grading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricVerdict:
    """How usable a project's metrics are for the configured event key."""

    status: Status
    metrics: tuple[LdMetric, ...] = ()  # usable metrics with the event key, best first
    rejected: tuple[LdMetric, ...] = ()  # metrics with the event key that cannot receive the events
    problems: tuple[Problem, ...] = ()

    @property
    def metric(self) -> LdMetric | None:
        """The best usable metric, or None."""
        return self.metrics[0] if self.metrics else None


def _quoted(keys: Iterable[str]) -> str:
    return ", ".join(f"'{key}'" for key in keys)


def _is_usable(metric: LdMetric) -> bool:
    return not metric.is_numeric and not metric.archived


def _amber_problems(
    metric: LdMetric, settings: MetricSettings, available_units: Collection[str] | None = None
) -> list[Problem]:
    found = []
    if metric.success_criteria == "HigherThanBaseline":
        found.append(
            problem(
                "metric_wrong_direction",
                f"Metric '{metric.key}' has success criterion HigherThanBaseline, so more errors look "
                "like an improvement; set it to LowerThanBaseline in LaunchDarkly.",
            )
        )
    expected = settings.kind.unit_aggregation_type
    actual = metric.unit_aggregation_type
    # An absent aggregation is unknown, not a contradiction; a new value (count_distinct, §1.7) is one.
    if actual is not None and actual != expected:
        other = {kind.unit_aggregation_type: kind for kind in MetricKind}.get(actual)
        alternative = f' or set `[metric] kind = "{other.value}"`' if other else ""
        found.append(
            problem(
                "metric_kind_mismatch",
                f"Metric '{metric.key}' has unitAggregationType '{actual}' but `[metric] kind = "
                f"\"{settings.kind.value}\"` expects '{expected}'; change the metric in LaunchDarkly"
                f"{alternative}.",
            )
        )
    if metric.data_source is not None and metric.data_source != HOSTED_DATA_SOURCE:
        where = f" (environment '{metric.data_source_environment}')" if metric.data_source_environment else ""
        found.append(
            problem(
                "metric_data_source",
                f"Metric '{metric.key}' reads data source '{metric.data_source}'{where}, not events sent to "
                "LaunchDarkly, so the errors the Sentry integration sends never reach it; in LaunchDarkly, "
                f"create a metric on LaunchDarkly-hosted events with event key '{settings.event_key}'.",
            )
        )
    if available_units is not None:
        missing = [unit for unit in metric.analysis_units if unit not in available_units]
        if missing:
            offered = _quoted(available_units) or "none"
            found.append(
                problem(
                    "metric_units_unavailable",
                    f"Metric '{metric.key}' is analysed by context kind {_quoted(missing)}, which its project "
                    f"does not make available for experiments (available: {offered}); mark the kind "
                    "\"Available for experiments\" in the project's Contexts settings, or change the metric's "
                    "units in LaunchDarkly.",
                )
            )
    return found


def _red_problems(matching: Sequence[LdMetric], metrics: Sequence[LdMetric], settings: MetricSettings) -> list[Problem]:
    event_key = settings.event_key
    if not matching:
        custom_keys = [m.event_key for m in metrics if m.kind == "custom" and m.event_key]
        return [
            problem(
                "metric_missing",
                f"No custom metric has event key '{event_key}'{did_you_mean(event_key, custom_keys)}; {CREATE_HINT}.",
            )
        ]
    # A numeric metric stays useless when restored, so numeric is reported before archived.
    numeric = [m.key for m in matching if m.is_numeric]
    archived = [m.key for m in matching if m.archived and not m.is_numeric]
    # Creating a metric under a key that one of these holds would clash (HTTP 409).
    taken = settings.key in numeric + archived
    rekey = "set `[metric] key` to another key and " if taken else ""
    found = []
    if numeric:
        found.append(
            problem(
                "metric_numeric",
                f"Metric {_quoted(numeric)} with event key '{event_key}' is numeric; the integration "
                f"needs a conversion metric: {rekey}{CREATE_HINT}.",
            )
        )
    if archived:
        found.append(
            problem(
                "metric_archived",
                f"Metric {_quoted(archived)} with event key '{event_key}' is archived; restore it in "
                f"LaunchDarkly, or {rekey}{CREATE_HINT}.",
            )
        )
    return found


def grade_metrics(
    metrics: Sequence[LdMetric], settings: MetricSettings, available_units: Collection[str] | None = None
) -> MetricVerdict:
    """Grade one project's metrics for `settings.event_key`; the best of several matches wins.

    `available_units` are the project's context kinds available for experiments (None: unknown).
    A `kind` other than custom, known or not (pageview, click, trace, newer ones), never matches.
    """
    # Event keys are case-sensitive, and only custom metrics receive custom events.
    matching = [m for m in metrics if m.kind == "custom" and m.event_key == settings.event_key]
    usable = [m for m in matching if _is_usable(m)]
    rejected = tuple(m for m in matching if not _is_usable(m))
    if not usable:
        return MetricVerdict(Status.RED, (), rejected, tuple(_red_problems(matching, metrics, settings)))
    graded = [(m, _amber_problems(m, settings, available_units)) for m in usable]
    # Fewest problems first; on a tie the metric under the configured key; then API order (stable).
    graded.sort(key=lambda pair: (len(pair[1]), pair[0].key != settings.key))
    best_problems = tuple(graded[0][1])
    return MetricVerdict(status_of(best_problems), tuple(m for m, _ in graded), rejected, best_problems)


# --- Facts and the status report ------------------------------------------------------------------


@dataclass(frozen=True)
class LdFacts:
    """What LaunchDarkly said about one project: None when it does not exist; its metrics or an error."""

    key: str
    project: LdProject | None
    metrics: tuple[LdMetric, ...] = ()
    metrics_error: ServiceError | None = None
    # Context kinds available for experiments; None when not fetched (no metric to grade) or unknown.
    experiment_units: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SentryFacts:
    """What Sentry said: projects by slug (None when the Sentry half was skipped), environments by slug."""

    projects: Mapping[str, SentryProject] | None
    # A project listed without environments is treated as missing (its environments call said 404).
    environments: Mapping[str, tuple[SentryEnvironment, ...]] = field(default_factory=dict)
    unchecked_reason: str | None = None


@dataclass(frozen=True)
class Facts:
    """Everything `status` fetched: LaunchDarkly facts per project key, and the Sentry facts."""

    ld: Mapping[str, LdFacts]
    sentry: SentryFacts
    # Every project key the token can see, fetched only to suggest a fix for a missing project.
    ld_project_keys: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Row(GradedRow):
    """One mapping's result: the metric found (or None) and its problems; status follows from them."""

    mapping: ProjectMapping
    metric: LdMetric | None = None
    problems: tuple[Problem, ...] = ()
    sentry_project: SentryProject | None = None


@dataclass(frozen=True)
class Report(GradedReport):
    """The status report: one row per mapping plus report-level notes (which may also fail it)."""

    event_key: str
    rows: tuple[Row, ...]
    notes: tuple[Problem, ...] = ()

    def with_notes(self, *notes: Problem) -> Report:
        """A copy with report-level notes added (the CLI adds the EU/federal one)."""
        return replace(self, notes=self.notes + notes)


def missing_ld_project(key: str, known_keys: Iterable[str], fix: str) -> Problem:
    """The `ld_project_missing` problem, suggesting a close key; `fix` names the mappings to edit."""
    return problem(
        "ld_project_missing",
        f"LaunchDarkly project '{key}' does not exist{did_you_mean(key, known_keys)}; fix `ld_project` in {fix}.",
    )


def unavailable_metrics(key: str, error: ServiceError) -> Problem:
    """The `ld_metrics_unavailable` problem: the project exists but listing its metrics failed."""
    return problem(
        "ld_metrics_unavailable", f"Could not list the metrics of LaunchDarkly project '{key}': {error.message}"
    )


def _ld_problems(
    mapping: ProjectMapping,
    facts: LdFacts,
    settings: MetricSettings,
    known_projects: Sequence[str] | None,
    verdicts: dict[str, MetricVerdict],
) -> tuple[list[Problem], LdMetric | None]:
    if facts.project is None:
        return [missing_ld_project(mapping.ld_project, known_projects or (), "the mapping")], None
    found = []
    env_keys = facts.project.environment_keys
    if mapping.ld_environment not in env_keys:
        found.append(
            problem(
                "ld_environment_missing",
                f"LaunchDarkly project '{mapping.ld_project}' has no environment "
                f"'{mapping.ld_environment}'{did_you_mean(mapping.ld_environment, env_keys)}; fix "
                "`ld_environment` in the mapping.",
            )
        )
    if facts.metrics_error is not None:
        found.append(unavailable_metrics(mapping.ld_project, facts.metrics_error))
        return found, None
    verdict = verdicts.get(facts.key)
    if verdict is None:  # graded once per project, however many mappings point at it
        verdict = verdicts[facts.key] = grade_metrics(facts.metrics, settings, facts.experiment_units)
    return found + list(verdict.problems), verdict.metric


def missing_sentry_project(slug: str, known_slugs: Iterable[str]) -> Problem:
    """The `sentry_project_missing` problem, suggesting a close slug."""
    return problem(
        "sentry_project_missing",
        f"Sentry project '{slug}' does not exist in the organization{did_you_mean(slug, known_slugs)}; "
        "fix `sentry_project` in the mapping.",
    )


def missing_sentry_environment(slug: str, environment: str, known_names: Iterable[str]) -> Problem:
    """The `sentry_environment_missing` problem, suggesting a close name."""
    return problem(
        "sentry_environment_missing",
        f"Sentry project '{slug}' has no environment '{environment}'"
        f"{did_you_mean(environment, known_names)}; fix `sentry_environment` in the mapping (Sentry "
        "creates an environment with its first event).",
    )


def _sentry_problems(mapping: ProjectMapping, facts: SentryFacts) -> tuple[list[Problem], SentryProject | None]:
    projects = facts.projects or {}
    slug, env_name = mapping.sentry_pair
    project = projects.get(slug)
    environments = facts.environments.get(slug)
    # No environment list means the project vanished after it was listed (404): it is missing too.
    if project is None or environments is None:
        return [missing_sentry_project(slug, projects)], None
    # Sentry environment names are case-sensitive (sentry-api.md §3).
    environment = next((env for env in environments if env.name == env_name), None)
    if environment is None:
        names = [env.name for env in environments]
        return [missing_sentry_environment(slug, env_name, names)], project
    if environment.is_hidden:
        return [
            problem(
                "sentry_environment_hidden",
                f"Sentry environment '{env_name}' of project '{slug}' is hidden; unhide it in Sentry "
                "if it is still in use.",
            )
        ], project
    return [], project


def build_report(config: Config, facts: Facts, *, require_sentry: bool = False) -> Report:
    """The status report for every mapping of `config`, from the fetched facts."""
    rows = []
    verdicts: dict[str, MetricVerdict] = {}
    for mapping in config.mappings:
        ld_facts = facts.ld[mapping.ld_project]
        ld_found, metric = _ld_problems(mapping, ld_facts, config.metric, facts.ld_project_keys, verdicts)
        sentry_found: list[Problem] = []
        sentry_project = None
        if facts.sentry.projects is not None:
            sentry_found, sentry_project = _sentry_problems(mapping, facts.sentry)
        rows.append(Row(mapping, metric, tuple(ld_found + sentry_found), sentry_project))
    notes = []
    if facts.sentry.projects is None:
        reason = f" ({facts.sentry.unchecked_reason})" if facts.sentry.unchecked_reason else ""
        notes.append(
            problem(
                "sentry_unchecked",
                f"The Sentry side was not checked{reason}; set SENTRY_AUTH_TOKEN and "
                "`[sentry] organization` to check it.",
                Severity.RED if require_sentry else None,
            )
        )
    return Report(config.metric.event_key, tuple(rows), tuple(notes))
