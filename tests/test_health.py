"""Metric grading and the status report (pure functions over config + facts)."""

from __future__ import annotations

import pytest

from ld_sentry_cli.api_models import LdEnvironment, LdMetric, LdProject, SentryEnvironment, SentryProject
from ld_sentry_cli.errors import PermissionDeniedError
from ld_sentry_cli.grades import Status, Summary, problems_ok, status_of
from ld_sentry_cli.health import Facts, LdFacts, Report, Row, SentryFacts, build_report, grade_metrics
from ld_sentry_cli.metric_report import build_metric_check
from ld_sentry_cli.models import Config, MetricKind, MetricSettings, ProjectMapping
from ld_sentry_cli.problems import Problem, Severity, problem

SETTINGS = MetricSettings()  # event key and metric key "sentry-errors", binary


def metric(
    key: str = "sentry-errors",
    *,
    event_key: str | None = "sentry-errors",
    kind: str = "custom",
    numeric: bool = False,
    archived: bool = False,
    criteria: str | None = "LowerThanBaseline",
    aggregation: str | None = "average",
) -> LdMetric:
    return LdMetric(
        key=key,
        name=key.title(),
        kind=kind,
        event_key=event_key,
        is_numeric=numeric,
        success_criteria=criteria,
        unit_aggregation_type=aggregation,
        archived=archived,
    )


def codes(problems: tuple[Problem, ...] | list[Problem]) -> list[str]:
    return [p.code for p in problems]


# --- Status ---------------------------------------------------------------------------------------


def test_status_orders_so_the_worst_wins() -> None:
    assert max([Status.GREEN, Status.RED, Status.AMBER]) is Status.RED
    assert max([Status.GREEN, Status.AMBER]) is Status.AMBER
    assert sorted([Status.RED, Status.GREEN, Status.AMBER]) == [Status.GREEN, Status.AMBER, Status.RED]
    assert Status.GREEN < Status.AMBER < Status.RED
    assert [s.value for s in Status] == ["green", "amber", "red"]


def test_status_of_problems_notes_count_as_green() -> None:
    assert status_of([]) is Status.GREEN
    assert status_of([problem("sentry_unchecked", "n")]) is Status.GREEN
    assert status_of([problem("sentry_environment_hidden", "a"), problem("metric_missing", "r")]) is Status.RED
    assert problems_ok([problem("sentry_environment_hidden", "a")])
    assert not problems_ok([problem("sentry_environment_hidden", "a")], strict=True)


# --- grade_metrics: GREEN -------------------------------------------------------------------------


def test_green_custom_conversion_metric_with_the_event_key() -> None:
    good = metric()
    verdict = grade_metrics([metric("other", event_key="checkout"), good], SETTINGS)
    assert verdict.status is Status.GREEN
    assert verdict.metric == good
    assert verdict.problems == ()


def test_green_when_metric_key_differs_from_event_key() -> None:
    good = metric("errors-from-sentry")
    verdict = grade_metrics([good], SETTINGS)
    assert verdict.status is Status.GREEN
    assert verdict.metric == good


def test_green_when_aggregation_and_criterion_are_absent() -> None:
    verdict = grade_metrics([metric(criteria=None, aggregation=None)], SETTINGS)
    assert verdict.status is Status.GREEN


def test_green_for_count_kind_with_sum_aggregation() -> None:
    settings = MetricSettings(kind=MetricKind.COUNT)
    assert grade_metrics([metric(aggregation="sum")], settings).status is Status.GREEN


# --- grade_metrics: RED ---------------------------------------------------------------------------


def test_red_metric_missing_when_no_metrics() -> None:
    verdict = grade_metrics([], SETTINGS)
    assert verdict.status is Status.RED
    assert verdict.metric is None
    assert verdict.problems == (
        Problem(
            "metric_missing",
            Severity.RED,
            "No custom metric has event key 'sentry-errors'; run `ldsentry metric create`.",
        ),
    )


def test_red_metric_missing_is_case_sensitive_and_suggests_the_near_key() -> None:
    verdict = grade_metrics([metric(event_key="Sentry-Errors")], SETTINGS)
    assert verdict.status is Status.RED
    assert verdict.problems[0].message == (
        "No custom metric has event key 'sentry-errors' (did you mean 'Sentry-Errors'?); run `ldsentry metric create`."
    )


def test_red_metric_missing_when_only_a_non_custom_metric_has_the_event_key() -> None:
    verdict = grade_metrics([metric(kind="pageview")], SETTINGS)
    assert codes(verdict.problems) == ["metric_missing"]
    assert verdict.rejected == ()


def test_red_metric_numeric_when_the_configured_key_is_taken() -> None:
    numeric = metric(numeric=True)
    verdict = grade_metrics([numeric], SETTINGS)
    assert verdict.status is Status.RED
    assert verdict.metric is None
    assert verdict.rejected == (numeric,)
    assert verdict.problems == (
        Problem(
            "metric_numeric",
            Severity.RED,
            "Metric 'sentry-errors' with event key 'sentry-errors' is numeric; the integration needs a "
            "conversion metric: set `[metric] key` to another key and run `ldsentry metric create`.",
        ),
    )


def test_red_metric_numeric_under_another_key() -> None:
    verdict = grade_metrics([metric("error-rate", numeric=True), metric("e2", numeric=True)], SETTINGS)
    assert verdict.problems[0].message == (
        "Metric 'error-rate', 'e2' with event key 'sentry-errors' is numeric; the integration needs a "
        "conversion metric: run `ldsentry metric create`."
    )


def test_red_metric_archived() -> None:
    verdict = grade_metrics([metric("old-errors", archived=True)], SETTINGS)
    assert verdict.status is Status.RED
    assert verdict.problems == (
        Problem(
            "metric_archived",
            Severity.RED,
            "Metric 'old-errors' with event key 'sentry-errors' is archived; restore it in LaunchDarkly, "
            "or run `ldsentry metric create`.",
        ),
    )


def test_red_metric_archived_under_the_configured_key() -> None:
    verdict = grade_metrics([metric(archived=True)], SETTINGS)
    assert verdict.problems[0].message == (
        "Metric 'sentry-errors' with event key 'sentry-errors' is archived; restore it in LaunchDarkly, "
        "or set `[metric] key` to another key and run `ldsentry metric create`."
    )


def test_red_numeric_and_archived_metrics_report_both() -> None:
    verdict = grade_metrics([metric("a", archived=True), metric("n", numeric=True)], SETTINGS)
    assert codes(verdict.problems) == ["metric_numeric", "metric_archived"]


def test_an_archived_numeric_metric_counts_as_numeric() -> None:
    verdict = grade_metrics([metric("n", numeric=True, archived=True)], SETTINGS)
    assert codes(verdict.problems) == ["metric_numeric"]


# --- grade_metrics: AMBER -------------------------------------------------------------------------


def test_amber_wrong_direction() -> None:
    wrong = metric(criteria="HigherThanBaseline")
    verdict = grade_metrics([wrong], SETTINGS)
    assert verdict.status is Status.AMBER
    assert verdict.metric == wrong
    assert verdict.problems == (
        Problem(
            "metric_wrong_direction",
            Severity.AMBER,
            "Metric 'sentry-errors' has success criterion HigherThanBaseline, so more errors look like an "
            "improvement; set it to LowerThanBaseline in LaunchDarkly.",
        ),
    )


def _kind_mismatch(aggregation: str) -> Problem:
    """A binary metric with an aggregation no kind of ldsentry's expects: nothing to suggest in ldsentry.toml."""
    return Problem(
        "metric_kind_mismatch",
        Severity.AMBER,
        f"Metric 'sentry-errors' has unitAggregationType '{aggregation}' but `[metric] kind = \"binary\"` "
        "expects 'average'; change the metric in LaunchDarkly.",
    )


UNITS = LdMetric("sentry-errors", "E", "custom", "sentry-errors", analysis_units=("user", "request"))
WAREHOUSE = LdMetric(
    "sentry-errors", "E", "custom", "sentry-errors", data_source="snowflake-prod", data_source_environment="prod"
)

# One metric with one amber problem: the metrics, the project's experiment units (None: unknown), the problem.
ONE_AMBER_PROBLEM = [
    pytest.param(
        [metric(aggregation="sum")],
        None,
        Problem(
            "metric_kind_mismatch",
            Severity.AMBER,
            "Metric 'sentry-errors' has unitAggregationType 'sum' but `[metric] kind = \"binary\"` expects "
            "'average'; change the metric in LaunchDarkly or set `[metric] kind = \"count\"`.",
        ),
        id="sum-for-binary",
    ),
    pytest.param([metric(aggregation="count_distinct")], None, _kind_mismatch("count_distinct"), id="count_distinct"),
    pytest.param(  # an aggregation LaunchDarkly may add one day
        [metric(aggregation="median-of-tomorrow")], None, _kind_mismatch("median-of-tomorrow"), id="new-aggregation"
    ),
    pytest.param(
        [WAREHOUSE],
        None,
        Problem(
            "metric_data_source",
            Severity.AMBER,
            "Metric 'sentry-errors' reads data source 'snowflake-prod' (environment 'prod'), not events sent to "
            "LaunchDarkly, so the errors the Sentry integration sends never reach it; in LaunchDarkly, create a "
            "metric on LaunchDarkly-hosted events with event key 'sentry-errors'.",
        ),
        id="warehouse-data-source",
    ),
    pytest.param(
        [UNITS],
        ("user", "organization"),
        Problem(
            "metric_units_unavailable",
            Severity.AMBER,
            "Metric 'sentry-errors' is analysed by context kind 'request', which its project does not make "
            "available for experiments (available: 'user', 'organization'); mark the kind \"Available for "
            "experiments\" in the project's Contexts settings, or change the metric's units in LaunchDarkly.",
        ),
        id="units-unavailable",
    ),
]


@pytest.mark.parametrize(("metrics", "units", "expected"), ONE_AMBER_PROBLEM)
def test_amber_metric_with_one_problem(
    metrics: list[LdMetric], units: tuple[str, ...] | None, expected: Problem
) -> None:
    verdict = grade_metrics(metrics, SETTINGS, units)
    assert verdict.status is Status.AMBER
    assert verdict.problems == (expected,)


def test_amber_kind_mismatch_average_for_count() -> None:
    verdict = grade_metrics([metric()], MetricSettings(kind=MetricKind.COUNT))
    assert verdict.problems[0].message == (
        "Metric 'sentry-errors' has unitAggregationType 'average' but `[metric] kind = \"count\"` expects "
        "'sum'; change the metric in LaunchDarkly or set `[metric] kind = \"binary\"`."
    )


def test_amber_metric_with_both_problems() -> None:
    verdict = grade_metrics([metric(criteria="HigherThanBaseline", aggregation="sum")], SETTINGS)
    assert verdict.status is Status.AMBER
    assert codes(verdict.problems) == ["metric_wrong_direction", "metric_kind_mismatch"]


# --- grade_metrics: the best of several -----------------------------------------------------------


def test_best_of_several_green_beats_amber_and_red() -> None:
    amber = metric("amber", criteria="HigherThanBaseline")
    numeric = metric("numeric", numeric=True)
    green = metric("green")
    verdict = grade_metrics([amber, numeric, green], SETTINGS)
    assert verdict.status is Status.GREEN
    assert verdict.metric == green
    assert verdict.metrics == (green, amber)
    assert verdict.rejected == (numeric,)
    assert verdict.problems == ()


def test_best_of_several_fewer_problems_wins_among_ambers() -> None:
    two = metric("two", criteria="HigherThanBaseline", aggregation="sum")
    one = metric("one", aggregation="sum")
    verdict = grade_metrics([two, one], SETTINGS)
    assert verdict.status is Status.AMBER
    assert verdict.metric == one
    assert codes(verdict.problems) == ["metric_kind_mismatch"]


def test_best_of_several_prefers_the_configured_key_on_a_tie() -> None:
    other = metric("errors")
    configured = metric("sentry-errors")
    assert grade_metrics([other, configured], SETTINGS).metric == configured


def test_best_of_several_keeps_api_order_otherwise() -> None:
    first, second = metric("a"), metric("b")
    assert grade_metrics([first, second], SETTINGS).metrics == (first, second)


def test_archived_usable_metric_loses_to_an_amber_one() -> None:
    amber = metric("amber", aggregation="sum")
    verdict = grade_metrics([metric(archived=True), amber], SETTINGS)
    assert verdict.status is Status.AMBER
    assert verdict.metric == amber


# --- build_report ---------------------------------------------------------------------------------

WEB = ProjectMapping("web", "production", "default", "production")
WEB_STAGING = ProjectMapping("web", "staging", "default", "test")
API = ProjectMapping("api", "production", "backend", "production")

DEFAULT = LdProject(
    "default",
    "Default",
    (LdEnvironment("production", "Production"), LdEnvironment("test", "Test")),
)
BACKEND = LdProject("backend", "Backend", (LdEnvironment("production", "Production"),))
SENTRY_WEB = SentryProject("11", "web", "Web")
SENTRY_API = SentryProject("12", "api", "API")
ENVIRONMENTS = (SentryEnvironment("production"), SentryEnvironment("staging"))


def sentry_facts(
    environments: dict[str, tuple[SentryEnvironment, ...]] | None = None,
) -> SentryFacts:
    projects = {"web": SENTRY_WEB, "api": SENTRY_API}
    return SentryFacts(projects, {"web": ENVIRONMENTS, "api": ENVIRONMENTS} if environments is None else environments)


def facts(
    ld: dict[str, LdFacts] | None = None, sentry: SentryFacts | None = None, known: tuple[str, ...] | None = None
) -> Facts:
    default_ld = {
        "default": LdFacts("default", DEFAULT, (metric(),)),
        "backend": LdFacts("backend", BACKEND, (metric(),)),
    }
    return Facts({**default_ld, **(ld or {})}, sentry or sentry_facts(), known)


def config(*mappings: ProjectMapping, settings: MetricSettings = SETTINGS) -> Config:
    return Config(metric=settings, mappings=mappings)


def only_row(report: Report) -> Row:
    assert len(report.rows) == 1
    return report.rows[0]


def test_report_all_green() -> None:
    report = build_report(config(WEB, WEB_STAGING, API), facts())
    assert report.event_key == "sentry-errors"
    assert [row.mapping for row in report.rows] == [WEB, WEB_STAGING, API]
    assert all(row.status is Status.GREEN for row in report.rows)
    assert report.rows[0].metric == metric()
    assert report.rows[0].sentry_project == SENTRY_WEB
    assert report.notes == ()
    assert report.summary == Summary(total=3, green=3, amber=0, red=0)
    assert report.status is Status.GREEN
    assert report.ok() and report.ok(strict=True)


def test_report_ld_project_missing_suggests_a_known_key() -> None:
    mapping = ProjectMapping("web", "production", "defualt", "production")
    ld = {"defualt": LdFacts("defualt", None)}
    row = only_row(build_report(config(mapping), facts(ld, known=("default", "backend"))))
    assert row.status is Status.RED
    assert row.metric is None
    assert row.problems == (
        Problem(
            "ld_project_missing",
            Severity.RED,
            "LaunchDarkly project 'defualt' does not exist (did you mean 'default'?); fix `ld_project` in the mapping.",
        ),
    )


def test_report_ld_project_missing_without_a_known_list() -> None:
    mapping = ProjectMapping("web", "production", "gone", "production")
    row = only_row(build_report(config(mapping), facts({"gone": LdFacts("gone", None)})))
    assert [p.message for p in row.problems] == [
        "LaunchDarkly project 'gone' does not exist; fix `ld_project` in the mapping."
    ]


def test_report_ld_environment_missing_with_did_you_mean() -> None:
    mapping = ProjectMapping("web", "production", "default", "Production")
    row = only_row(build_report(config(mapping), facts()))
    assert row.status is Status.RED
    assert row.metric == metric()  # the metric half is still graded
    assert row.problems == (
        Problem(
            "ld_environment_missing",
            Severity.RED,
            "LaunchDarkly project 'default' has no environment 'Production' (did you mean 'production'?); "
            "fix `ld_environment` in the mapping.",
        ),
    )


def test_report_carries_metric_problems_per_mapping() -> None:
    ld = {"default": LdFacts("default", DEFAULT, (metric(numeric=True),))}
    report = build_report(config(WEB, WEB_STAGING, API), facts(ld))
    assert [row.status for row in report.rows] == [Status.RED, Status.RED, Status.GREEN]
    assert codes(report.rows[0].problems) == ["metric_numeric"]
    assert report.summary == Summary(total=3, green=1, amber=0, red=2)
    assert not report.ok()


def test_report_metrics_unavailable() -> None:
    error = PermissionDeniedError("Access to the requested resource was denied.", status=403)
    ld = {"default": LdFacts("default", DEFAULT, (), error)}
    row = only_row(build_report(config(WEB), facts(ld)))
    assert row.metric is None
    assert row.problems == (
        Problem(
            "ld_metrics_unavailable",
            Severity.RED,
            "Could not list the metrics of LaunchDarkly project 'default': Access to the requested "
            "resource was denied.",
        ),
    )


def test_report_amber_metric_passes_unless_strict() -> None:
    ld = {"default": LdFacts("default", DEFAULT, (metric(criteria="HigherThanBaseline"),))}
    report = build_report(config(WEB), facts(ld))
    assert report.status is Status.AMBER
    assert report.summary == Summary(total=1, green=0, amber=1, red=0)
    assert report.ok()
    assert not report.ok(strict=True)


def test_report_sentry_project_missing_with_suggestion() -> None:
    mapping = ProjectMapping("webb", "production", "default", "production")
    row = only_row(build_report(config(mapping), facts()))
    assert row.sentry_project is None
    assert row.problems == (
        Problem(
            "sentry_project_missing",
            Severity.RED,
            "Sentry project 'webb' does not exist in the organization (did you mean 'web'?); fix "
            "`sentry_project` in the mapping.",
        ),
    )


def test_report_sentry_project_without_environments_counts_as_missing() -> None:
    sentry = sentry_facts(environments={"api": ENVIRONMENTS})  # web's environments call said 404
    row = only_row(build_report(config(WEB), facts(sentry=sentry)))
    assert codes(row.problems) == ["sentry_project_missing"]


def test_report_sentry_environment_missing_with_suggestion() -> None:
    mapping = ProjectMapping("web", "prod", "default", "production")
    row = only_row(build_report(config(mapping), facts()))
    assert row.sentry_project == SENTRY_WEB
    assert row.problems == (
        Problem(
            "sentry_environment_missing",
            Severity.RED,
            "Sentry project 'web' has no environment 'prod' (did you mean 'production'?); fix "
            "`sentry_environment` in the mapping (Sentry creates an environment with its first event).",
        ),
    )


def test_report_sentry_environment_hidden_is_amber() -> None:
    sentry = sentry_facts(environments={"web": (SentryEnvironment("production", is_hidden=True),)})
    row = only_row(build_report(config(WEB), facts(sentry=sentry)))
    assert row.status is Status.AMBER
    assert row.problems == (
        Problem(
            "sentry_environment_hidden",
            Severity.AMBER,
            "Sentry environment 'production' of project 'web' is hidden; unhide it in Sentry if it is still in use.",
        ),
    )


def test_report_both_halves_report_problems() -> None:
    mapping = ProjectMapping("nope", "production", "default", "prod")
    row = only_row(build_report(config(mapping), facts()))
    assert codes(row.problems) == ["ld_environment_missing", "sentry_project_missing"]


def test_report_sentry_unchecked_is_a_note() -> None:
    sentry = SentryFacts(None, unchecked_reason="SENTRY_AUTH_TOKEN is not set")
    report = build_report(config(WEB), facts(sentry=sentry))
    row = only_row(report)
    assert row.status is Status.GREEN
    assert row.sentry_project is None
    assert report.notes == (
        Problem(
            "sentry_unchecked",
            Severity.NOTE,
            "The Sentry side was not checked (SENTRY_AUTH_TOKEN is not set); set SENTRY_AUTH_TOKEN and "
            "`[sentry] organization` to check it.",
        ),
    )
    assert report.status is Status.GREEN
    assert report.ok(strict=True)


def test_report_sentry_unchecked_fails_when_required() -> None:
    sentry = SentryFacts(None)
    report = build_report(config(WEB), facts(sentry=sentry), require_sentry=True)
    assert report.notes == (
        Problem(
            "sentry_unchecked",
            Severity.RED,
            "The Sentry side was not checked; set SENTRY_AUTH_TOKEN and `[sentry] organization` to check it.",
        ),
    )
    assert report.summary == Summary(total=1, green=1, amber=0, red=0)
    assert report.status is Status.RED
    assert not report.ok()


def test_report_with_notes_adds_report_level_notes() -> None:
    report = build_report(config(WEB), facts())
    eu = problem("integration_unavailable", "The EU instance has no native Sentry integration.")
    noted = report.with_notes(eu)
    assert noted.notes == (eu,)
    assert noted.rows == report.rows
    assert noted.ok(strict=True)
    assert report.notes == ()


def test_report_without_mappings() -> None:
    report = build_report(config(), facts())
    assert report.rows == ()
    assert report.summary == Summary(0, 0, 0, 0)
    assert report.ok()


def test_report_needs_facts_for_every_ld_project() -> None:
    with pytest.raises(KeyError):
        build_report(config(ProjectMapping("web", "production", "unfetched", "production")), facts())


# --- what LaunchDarkly returns now: data sources, new enum values, analysis units -------------------


def test_hosted_or_absent_data_source_is_green_and_a_hosted_metric_beats_a_warehouse_one() -> None:
    hosted = LdMetric("hosted", "H", "custom", "sentry-errors", data_source="launchdarkly-hosted")
    warehouse = LdMetric("sentry-errors", "W", "custom", "sentry-errors", data_source="bigquery")
    assert grade_metrics([hosted], SETTINGS).status is Status.GREEN
    assert grade_metrics([metric()], SETTINGS).status is Status.GREEN
    verdict = grade_metrics([warehouse, hosted], SETTINGS)
    assert verdict.status is Status.GREEN
    assert verdict.metric == hosted


@pytest.mark.parametrize("kind", ["trace", "experiment-v9", ""])
def test_a_kind_other_than_custom_known_or_not_is_never_the_metric(kind: str) -> None:
    verdict = grade_metrics([metric(kind=kind)], SETTINGS)
    assert codes(verdict.problems) == ["metric_missing"]


def test_metric_units_available_or_unknown_are_green() -> None:
    assert grade_metrics([UNITS], SETTINGS, ("user", "request")).status is Status.GREEN
    assert grade_metrics([UNITS], SETTINGS, None).status is Status.GREEN  # unknown: not graded


def test_report_grades_units_from_the_facts() -> None:
    units = LdMetric("sentry-errors", "E", "custom", "sentry-errors", analysis_units=("request",))
    ld = {"default": LdFacts("default", DEFAULT, (units,), experiment_units=())}
    row = only_row(build_report(config(WEB), facts(ld=ld)))
    assert codes(row.problems) == ["metric_units_unavailable"]
    assert "(available: none)" in row.problems[0].message


def test_metric_check_grades_data_source_and_units_per_project() -> None:
    warehouse = LdMetric("sentry-errors", "E", "custom", "sentry-errors", data_source="bigquery")
    units = LdMetric("sentry-errors", "E", "custom", "sentry-errors", analysis_units=("device",))
    ld = {
        "a": LdFacts("a", DEFAULT, (warehouse,), experiment_units=("user",)),
        "b": LdFacts("b", BACKEND, (units,), experiment_units=("user",)),
    }
    report = build_metric_check(["a", "b"], ld, SETTINGS, ())
    assert [codes(row.problems) for row in report.rows] == [["metric_data_source"], ["metric_units_unavailable"]]
    assert report.ok() and not report.ok(strict=True)
