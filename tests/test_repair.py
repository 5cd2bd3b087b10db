"""The `metric create` workflow: dry run, idempotency, conflicts and safe retries of the POST."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support import METRIC_POST_BODY

from ld_sentry_cli.api_models import LdMetric, LdProject
from ld_sentry_cli.errors import (
    ApiError,
    AuthFailedError,
    ExitCode,
    NetworkError,
    PermissionDeniedError,
    ServiceConflictError,
    UsageError,
)
from ld_sentry_cli.models import MetricSettings
from ld_sentry_cli.repair import RepairAction, RepairReport, RepairResult, repair_metrics

SETTINGS = MetricSettings()


def metric(
    key: str = "sentry-errors",
    event_key: str | None = "sentry-errors",
    *,
    kind: str = "custom",
    numeric: bool = False,
    archived: bool = False,
    criteria: str = "LowerThanBaseline",
) -> LdMetric:
    return LdMetric(
        key,
        key,
        kind,
        event_key,
        is_numeric=numeric,
        success_criteria=criteria,
        unit_aggregation_type="average",
        archived=archived,
    )


def from_body(body: dict[str, Any]) -> LdMetric:
    return LdMetric(
        body["key"],
        body["name"],
        body["kind"],
        body["eventKey"],
        is_numeric=body["isNumeric"],
        success_criteria=body["successCriteria"],
        unit_aggregation_type=body["unitAggregationType"],
    )


class FakeLaunchDarkly:
    """Implements repair.MetricStore. `outcomes` scripts successive POSTs:

    ok: created; lost: created but the response is lost (NetworkError); down: NetworkError, nothing
    created; 5xx: HTTP 503, nothing created; conflict: 409; forbidden: 403; unauthorized: 401.
    """

    def __init__(
        self,
        metrics: dict[str, list[LdMetric]],
        outcomes: list[str] | None = None,
        unlisted: dict[tuple[str, str], LdMetric] | None = None,
        relist_error: Exception | None = None,
        units: dict[str, tuple[str, ...] | None] | None = None,
    ) -> None:
        self.metrics = metrics
        self.units = units or {}  # context kinds available for experiments; default ("user", "request")
        self.unit_calls: list[str] = []
        self.outcomes = outcomes or []
        self.unlisted = unlisted or {}  # metrics get_metric finds that the listing missed (a race)
        self.relist_error = relist_error
        self.calls: list[tuple[str, ...]] = []

    async def get_project(self, key: str) -> LdProject | None:
        self.calls.append(("get_project", key))
        return LdProject(key, key) if key in self.metrics else None

    async def list_metrics(self, project_key: str) -> list[LdMetric]:
        self.calls.append(("list_metrics", project_key))
        if self.relist_error and any(call[0] == "create_metric" for call in self.calls):
            raise self.relist_error
        return list(self.metrics[project_key])

    async def experiment_units(self, project_key: str) -> tuple[str, ...] | None:
        self.unit_calls.append(project_key)
        return self.units.get(project_key, ("user", "request"))

    async def get_metric(self, project_key: str, metric_key: str) -> LdMetric | None:
        self.calls.append(("get_metric", project_key, metric_key))
        found = [m for m in self.metrics[project_key] if m.key == metric_key]
        return found[0] if found else self.unlisted.get((project_key, metric_key))

    async def create_metric(self, project_key: str, body: dict[str, Any]) -> LdMetric:
        self.calls.append(("create_metric", project_key, body["key"]))
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome in ("ok", "lost"):
            created = from_body(body)
            self.metrics[project_key].append(created)
            if outcome == "lost":
                raise NetworkError("LaunchDarkly could not be reached: read timeout.")
            return created
        raise {
            "down": NetworkError("LaunchDarkly could not be reached: connection refused."),
            "5xx": ApiError("LaunchDarkly answered HTTP 503.", status=503),
            "conflict": ServiceConflictError("exists", status=409),
            "forbidden": PermissionDeniedError("The token may not create metrics.", status=403),
            "unauthorized": AuthFailedError("The token was rejected.", status=401),
        }[outcome]

    def posts(self) -> int:
        return sum(1 for call in self.calls if call[0] == "create_metric")


def run(
    client: FakeLaunchDarkly, projects: list[str], *, dry_run: bool = False, settings: MetricSettings = SETTINGS
) -> RepairReport:
    return asyncio.run(repair_metrics(projects, settings, client, METRIC_POST_BODY, dry_run=dry_run))


def single(report: RepairReport) -> RepairResult:
    assert len(report.results) == 1
    return report.results[0]


def test_creates_a_missing_metric() -> None:
    client = FakeLaunchDarkly({"web": [metric("other", "checkout")]})
    result = single(run(client, ["web"]))
    assert result == RepairResult(
        "web",
        RepairAction.CREATED,
        "Created metric 'sentry-errors' with event key 'sentry-errors' in LaunchDarkly project 'web'.",
        from_body(METRIC_POST_BODY),
        METRIC_POST_BODY,
    )
    assert client.calls == [
        ("get_project", "web"),
        ("list_metrics", "web"),
        ("create_metric", "web", "sentry-errors"),
    ]


def test_dry_run_sends_nothing_and_returns_the_planned_body() -> None:
    client = FakeLaunchDarkly({"web": [], "api": [metric()]})
    report = run(client, ["web", "api", "gone"], dry_run=True)
    assert [r.action for r in report.results] == [
        RepairAction.WOULD_CREATE,
        RepairAction.PRESENT,
        RepairAction.SKIPPED_PROJECT_MISSING,
    ]
    planned = report.results[0]
    assert planned.body == METRIC_POST_BODY
    assert planned.metric is None
    assert planned.message == (
        "Would create metric 'sentry-errors' with event key 'sentry-errors' in LaunchDarkly project 'web'."
    )
    assert client.posts() == 0
    assert client.metrics["web"] == []


def test_idempotent_present_metric_is_left_alone() -> None:
    existing = metric("errors-from-sentry")
    client = FakeLaunchDarkly({"web": [existing]})
    result = single(run(client, ["web"]))
    assert result == RepairResult(
        "web",
        RepairAction.PRESENT,
        "Metric 'errors-from-sentry' with event key 'sentry-errors' is present in LaunchDarkly project "
        "'web'; nothing to do.",
        existing,
    )
    assert client.posts() == 0


def test_second_run_finds_what_the_first_created() -> None:
    client = FakeLaunchDarkly({"web": []})
    assert single(run(client, ["web"])).action is RepairAction.CREATED
    assert single(run(client, ["web"])).action is RepairAction.PRESENT
    assert client.posts() == 1


def test_amber_metric_is_present_with_its_problems() -> None:
    client = FakeLaunchDarkly({"web": [metric(criteria="HigherThanBaseline")]})
    result = single(run(client, ["web"]))
    assert result.action is RepairAction.PRESENT
    assert [p.code for p in result.problems] == ["metric_wrong_direction"]
    assert client.posts() == 0


@pytest.mark.parametrize(
    "unusable",
    [metric("error-rate", numeric=True), metric("old-errors", archived=True)],
)
def test_numeric_or_archived_metric_under_another_key_gets_a_new_metric(unusable: LdMetric) -> None:
    client = FakeLaunchDarkly({"web": [unusable]})
    assert single(run(client, ["web"])).action is RepairAction.CREATED


def test_listed_clash_is_a_conflict_without_a_post() -> None:
    clash = metric("sentry-errors", "sentry-errors", numeric=True)
    client = FakeLaunchDarkly({"web": [clash]})
    result = single(run(client, ["web"], dry_run=True))
    assert result == RepairResult(
        "web",
        RepairAction.CONFLICT,
        "Metric key 'sentry-errors' is already taken in LaunchDarkly project 'web' by a metric that cannot "
        "receive Sentry errors (kind 'custom', numeric, event key 'sentry-errors'); set `[metric] key` to "
        "another key.",
        clash,
        METRIC_POST_BODY,
    )
    assert single(run(client, ["web"])).action is RepairAction.CONFLICT
    assert client.posts() == 0


def test_conflict_409_with_a_usable_metric_is_present() -> None:
    raced = metric()
    client = FakeLaunchDarkly({"web": []}, outcomes=["conflict"], unlisted={("web", "sentry-errors"): raced})
    result = single(run(client, ["web"]))
    assert result.action is RepairAction.PRESENT
    assert result.metric == raced
    assert result.message == (
        "Metric 'sentry-errors' with event key 'sentry-errors' is present in LaunchDarkly project 'web'; nothing to do."
    )
    assert client.calls[-2:] == [
        ("create_metric", "web", "sentry-errors"),
        ("get_metric", "web", "sentry-errors"),
    ]


def test_conflict_409_with_a_clashing_metric_names_it() -> None:
    clash = metric("sentry-errors", "page-load", kind="pageview", archived=True)
    client = FakeLaunchDarkly({"web": []}, outcomes=["conflict"], unlisted={("web", "sentry-errors"): clash})
    result = single(run(client, ["web"]))
    assert result.action is RepairAction.CONFLICT
    assert result.metric == clash
    assert result.message == (
        "Metric key 'sentry-errors' is already taken in LaunchDarkly project 'web' by a metric that cannot "
        "receive Sentry errors (kind 'pageview', archived, event key 'page-load'); set `[metric] key` to "
        "another key."
    )
    assert client.posts() == 1


def test_conflict_409_with_other_event_key_and_none() -> None:
    clash = metric("sentry-errors", None)
    client = FakeLaunchDarkly({"web": []}, outcomes=["conflict"], unlisted={("web", "sentry-errors"): clash})
    assert single(run(client, ["web"])).message == (
        "Metric key 'sentry-errors' is already taken in LaunchDarkly project 'web' by a metric that cannot "
        "receive Sentry errors (kind 'custom', no event key); set `[metric] key` to another key."
    )


def test_conflict_409_without_a_visible_metric() -> None:
    client = FakeLaunchDarkly({"web": []}, outcomes=["conflict"])
    result = single(run(client, ["web"]))
    assert result.action is RepairAction.CONFLICT
    assert result.metric is None
    assert result.message == (
        "Metric key 'sentry-errors' is already taken in LaunchDarkly project 'web'; set `[metric] key` to another key."
    )


def test_lost_response_is_rechecked_and_not_duplicated() -> None:
    client = FakeLaunchDarkly({"web": []}, outcomes=["lost"])
    result = single(run(client, ["web"]))
    assert result.action is RepairAction.CREATED
    assert result.metric == from_body(METRIC_POST_BODY)
    assert client.posts() == 1
    assert len(client.metrics["web"]) == 1
    assert client.calls == [
        ("get_project", "web"),
        ("list_metrics", "web"),
        ("create_metric", "web", "sentry-errors"),
        ("list_metrics", "web"),
    ]


@pytest.mark.parametrize("first", ["down", "5xx"])
def test_failed_post_that_created_nothing_is_retried_once(first: str) -> None:
    client = FakeLaunchDarkly({"web": []}, outcomes=[first, "ok"])
    result = single(run(client, ["web"]))
    assert result.action is RepairAction.CREATED
    assert client.posts() == 2
    assert len(client.metrics["web"]) == 1


def test_second_failure_is_not_retried_again() -> None:
    client = FakeLaunchDarkly({"web": []}, outcomes=["5xx", "5xx", "ok"])
    result = single(run(client, ["web"]))
    assert result.action is RepairAction.FAILED
    assert result.message == (
        "Could not create metric 'sentry-errors' in LaunchDarkly project 'web': LaunchDarkly answered HTTP 503."
    )
    assert isinstance(result.error, ApiError)
    assert client.posts() == 2
    assert not run_report_ok(result)


def test_retry_that_meets_a_conflict_rechecks_the_metric() -> None:
    raced = metric()
    client = FakeLaunchDarkly({"web": []}, outcomes=["down", "conflict"], unlisted={("web", "sentry-errors"): raced})
    result = single(run(client, ["web"]))
    assert result.action is RepairAction.PRESENT
    assert client.posts() == 2


def test_recheck_finding_a_foreign_metric_under_the_key_is_a_conflict() -> None:
    class Hijacked(FakeLaunchDarkly):
        async def create_metric(self, project_key: str, body: dict[str, Any]) -> LdMetric:
            self.calls.append(("create_metric", project_key, body["key"]))
            self.metrics[project_key].append(metric("sentry-errors", "other-event"))
            raise NetworkError("LaunchDarkly could not be reached: read timeout.")

    client = Hijacked({"web": []})
    result = single(run(client, ["web"]))
    assert result.action is RepairAction.CONFLICT
    assert client.posts() == 1


def test_no_retry_when_the_recheck_itself_fails() -> None:
    client = FakeLaunchDarkly({"web": []}, outcomes=["down"], relist_error=NetworkError("still down"))
    result = single(run(client, ["web"]))
    assert result.action is RepairAction.FAILED
    assert result.message == (
        "Could not create metric 'sentry-errors' in LaunchDarkly project 'web': LaunchDarkly could not be "
        "reached: connection refused."
    )
    assert client.posts() == 1


def test_refused_post_is_not_retried() -> None:
    client = FakeLaunchDarkly({"web": []}, outcomes=["forbidden"])
    result = single(run(client, ["web"]))
    assert result.action is RepairAction.FAILED
    assert isinstance(result.error, PermissionDeniedError)
    assert client.posts() == 1


def test_rejected_token_stops_the_run() -> None:
    client = FakeLaunchDarkly({"web": []}, outcomes=["unauthorized"])
    with pytest.raises(AuthFailedError):
        run(client, ["web"])


def test_missing_project_is_skipped() -> None:
    client = FakeLaunchDarkly({})
    result = single(run(client, ["gone"]))
    assert result == RepairResult(
        "gone",
        RepairAction.SKIPPED_PROJECT_MISSING,
        "LaunchDarkly project 'gone' does not exist; fix `ld_project` in the mappings first.",
        None,
        METRIC_POST_BODY,
    )
    assert client.calls == [("get_project", "gone")]


def test_service_error_while_reading_fails_that_project_only() -> None:
    class Broken(FakeLaunchDarkly):
        async def list_metrics(self, project_key: str) -> list[LdMetric]:
            if project_key == "web":
                raise PermissionDeniedError("No access to project 'web'.", status=403)
            return await super().list_metrics(project_key)

    report = run(Broken({"web": [], "api": []}), ["web", "api"])
    assert [r.action for r in report.results] == [RepairAction.FAILED, RepairAction.CREATED]
    assert report.failed
    assert not report.ok


def test_projects_are_deduplicated_and_kept_in_order() -> None:
    client = FakeLaunchDarkly({"web": [metric()], "api": []})
    seen: list[tuple[int, int]] = []
    report = asyncio.run(
        repair_metrics(
            ["api", "web", "api"], SETTINGS, client, METRIC_POST_BODY, progress=lambda d, t: seen.append((d, t))
        )
    )
    assert [r.project_key for r in report.results] == ["api", "web"]
    assert [r.action for r in report.results] == [RepairAction.CREATED, RepairAction.PRESENT]
    assert report.ok
    assert not report.failed
    assert seen[0] == (0, 2)
    assert seen[-1] == (2, 2)


def test_report_ok_counts_only_usable_outcomes() -> None:
    def report(*actions: RepairAction) -> RepairReport:
        return RepairReport(tuple(RepairResult("p", action, "m") for action in actions))

    assert report(RepairAction.CREATED, RepairAction.PRESENT, RepairAction.WOULD_CREATE).ok
    assert not report(RepairAction.CONFLICT).ok
    assert not report(RepairAction.SKIPPED_PROJECT_MISSING).ok
    assert not report(RepairAction.FAILED).ok
    assert report(RepairAction.FAILED).failed
    assert [a.value for a in RepairAction] == [
        "created",
        "present",
        "would_create",
        "conflict",
        "skipped_project_missing",
        "failed",
    ]


def run_report_ok(result: RepairResult) -> bool:
    return RepairReport((result,)).ok


def test_metric_key_comes_from_the_body() -> None:
    body = {**METRIC_POST_BODY, "key": "errors-v2"}
    client = FakeLaunchDarkly({"web": [metric("sentry-errors", numeric=True)]})
    result = single(asyncio.run(repair_metrics(["web"], SETTINGS, client, body)))
    assert result.action is RepairAction.CREATED
    assert client.calls[-1] == ("create_metric", "web", "errors-v2")


# --- `[metric] units` against each project's experimentation settings ------------------------------


def test_units_a_project_does_not_offer_stop_the_run_before_any_post() -> None:
    client = FakeLaunchDarkly({"web": [], "api": [], "ok": [metric()]}, units={"web": ("user",), "api": ()})
    settings = MetricSettings(units=("request",))
    with pytest.raises(UsageError) as caught:
        run(client, ["web", "api", "ok"], settings=settings)
    assert caught.value.message == (
        "`[metric] units` names context kinds the metric cannot use: LaunchDarkly project 'web' does not make "
        "'request' available for experiments (available: 'user'); LaunchDarkly project 'api' does not make "
        "'request' available for experiments (available: none)."
    )
    assert caught.value.hint == (
        'Set `[metric] units` to kinds the projects offer, or mark the kind "Available for experiments" in each '
        "project's Contexts settings in LaunchDarkly."
    )
    assert caught.value.exit_code == ExitCode.USAGE
    assert client.posts() == 0
    assert sorted(client.unit_calls) == ["api", "web"]  # "ok" has its metric: nothing to create there


def test_units_are_checked_in_a_dry_run_too() -> None:
    client = FakeLaunchDarkly({"web": []}, units={"web": ("user",)})
    with pytest.raises(UsageError, match="does not make 'request' available"):
        run(client, ["web"], dry_run=True, settings=MetricSettings(units=("request",)))


def test_unknown_units_leave_the_post_to_decide() -> None:
    class Denied(FakeLaunchDarkly):
        async def experiment_units(self, project_key: str) -> tuple[str, ...] | None:
            raise PermissionDeniedError("no", status=403)

    client = Denied({"web": []})
    assert single(run(client, ["web"], settings=MetricSettings(units=("request",)))).action is RepairAction.CREATED
