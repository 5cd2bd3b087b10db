"""Fact gathering: the minimum requests, concurrency, skipped halves and progress."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from ld_sentry_cli.api_models import LdEnvironment, LdMetric, LdProject, SentryEnvironment, SentryProject
from ld_sentry_cli.errors import (
    ApiError,
    AuthFailedError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
)
from ld_sentry_cli.filter_choice import FilterChoice
from ld_sentry_cli.gather import gather_facts, gather_ld_facts
from ld_sentry_cli.health import LdFacts, SentryFacts
from ld_sentry_cli.models import MetricSettings, ProjectMapping
from ld_sentry_cli.tasks import run_all

METRIC = LdMetric("sentry-errors", "Sentry errors", "custom", "sentry-errors")
PRODUCTION = LdEnvironment("production", "Production")


class FakeLaunchDarkly:
    """Implements gather.LaunchDarklyReader; records every call."""

    def __init__(
        self,
        projects: dict[str, LdProject],
        metrics: dict[str, list[LdMetric]] | None = None,
        metric_errors: dict[str, Exception] | None = None,
        list_error: Exception | None = None,
        units: dict[str, tuple[str, ...]] | None = None,
        unit_errors: dict[str, Exception] | None = None,
    ) -> None:
        self.units = units or {}
        self.unit_errors = unit_errors or {}
        self.projects = projects
        self.metrics = metrics or {}
        self.metric_errors = metric_errors or {}
        self.list_error = list_error
        self.calls: list[tuple[str, ...]] = []

    async def get_projects(
        self, keys: Sequence[str], choice: FilterChoice | None = None
    ) -> dict[str, LdProject | None]:
        self.calls.append(("get_projects", *keys))
        await asyncio.sleep(0)
        return {key: self.projects.get(key) for key in keys}

    async def list_projects(self) -> list[LdProject]:
        self.calls.append(("list_projects",))
        if self.list_error:
            raise self.list_error
        return list(self.projects.values())

    async def list_metrics(self, project_key: str) -> list[LdMetric]:
        self.calls.append(("list_metrics", project_key))
        await asyncio.sleep(0)
        if project_key in self.metric_errors:
            raise self.metric_errors[project_key]
        return self.metrics.get(project_key, [])

    async def list_event_metrics(
        self, project_key: str, event_key: str, choice: FilterChoice | None = None
    ) -> list[LdMetric]:
        self.calls.append(("list_event_metrics", project_key, event_key))
        await asyncio.sleep(0)
        if project_key in self.metric_errors:
            raise self.metric_errors[project_key]
        return [m for m in self.metrics.get(project_key, []) if m.event_key == event_key]

    async def experiment_units(self, project_key: str) -> tuple[str, ...] | None:
        self.calls.append(("experiment_units", project_key))
        await asyncio.sleep(0)
        if project_key in self.unit_errors:
            raise self.unit_errors[project_key]
        return self.units.get(project_key, ("user",))


class FakeSentry:
    """Implements gather.SentryReader; records every call."""

    def __init__(
        self,
        projects: list[SentryProject],
        environments: dict[str, list[SentryEnvironment] | None],
        error: Exception | None = None,
        hidden: frozenset[str] | Exception = frozenset(),
    ) -> None:
        self.projects = projects
        self.environments = environments
        self.error = error
        self.hidden = hidden
        self.calls: list[tuple[str, ...]] = []

    async def list_projects(self) -> list[SentryProject]:
        self.calls.append(("list_projects",))
        await asyncio.sleep(0)
        if self.error:
            raise self.error
        return self.projects

    async def hidden_environment_names(self) -> frozenset[str]:
        self.calls.append(("hidden_environment_names",))
        await asyncio.sleep(0)
        if isinstance(self.hidden, Exception):
            raise self.hidden
        return self.hidden

    async def list_environments(self, project_slug: str) -> list[SentryEnvironment] | None:
        self.calls.append(("list_environments", project_slug))
        await asyncio.sleep(0)
        return self.environments.get(project_slug)


WEB = SentryProject("1", "web")
API = SentryProject("2", "api")
ENVS = [SentryEnvironment("production"), SentryEnvironment("staging", is_hidden=True)]
DEFAULT = LdProject("default", "Default", (PRODUCTION,))

# Three mappings share one LaunchDarkly project and two Sentry projects.
MAPPINGS = (
    ProjectMapping("web", "production", "default", "production"),
    ProjectMapping("web", "staging", "default", "production"),
    ProjectMapping("api", "production", "default", "production"),
)


def test_three_mappings_sharing_one_ld_project_make_the_minimum_calls() -> None:
    ld = FakeLaunchDarkly({"default": DEFAULT}, {"default": [METRIC]})
    sentry = FakeSentry([WEB, API, SentryProject("3", "unused")], {"web": ENVS, "api": ENVS})
    facts = asyncio.run(gather_facts(MAPPINGS, ld, sentry))
    assert ld.calls == [("get_projects", "default"), ("list_metrics", "default")]
    # These summaries carry no environments (an older Sentry): each mapped project is asked.
    assert sorted(sentry.calls[:2]) == [("hidden_environment_names",), ("list_projects",)]
    assert sorted(sentry.calls[2:]) == [("list_environments", "api"), ("list_environments", "web")]
    assert len(sentry.calls) == 4
    assert facts.ld == {"default": LdFacts("default", DEFAULT, (METRIC,))}
    assert facts.ld_project_keys is None
    assert facts.sentry.projects is not None
    assert set(facts.sentry.projects) == {"web", "api", "unused"}
    assert facts.sentry.environments == {"web": tuple(ENVS), "api": tuple(ENVS)}


def test_missing_ld_project_ignores_its_metrics_404_and_lists_projects_once_for_suggestions() -> None:
    mappings = (
        ProjectMapping("web", "production", "defualt", "production"),
        ProjectMapping("web", "staging", "defualt", "production"),
        ProjectMapping("api", "production", "default", "production"),
    )
    ld = FakeLaunchDarkly({"default": DEFAULT}, {"default": [METRIC]})
    facts = asyncio.run(gather_facts(mappings, ld, None))
    assert sorted(ld.calls) == [
        ("get_projects", "defualt", "default"),
        ("list_metrics", "default"),
        ("list_metrics", "defualt"),
        ("list_projects",),
    ]
    assert ld.calls[-1] == ("list_projects",)
    assert facts.ld["defualt"] == LdFacts("defualt", None)
    assert facts.ld_project_keys == ("default",)


def test_suggestions_can_be_turned_off() -> None:
    ld = FakeLaunchDarkly({})
    facts = asyncio.run(
        gather_facts(MAPPINGS[:1], ld, None, suggest_projects=False),
    )
    assert ld.calls == [("get_projects", "default"), ("list_metrics", "default")]
    assert facts.ld_project_keys is None


def test_a_failing_project_list_only_loses_the_suggestions() -> None:
    ld = FakeLaunchDarkly({}, list_error=PermissionDeniedError("denied", status=403))
    facts = asyncio.run(gather_facts(MAPPINGS[:1], ld, None))
    assert facts.ld_project_keys is None
    assert facts.ld["default"].project is None


def test_a_project_list_that_is_not_found_is_not_just_lost_suggestions() -> None:
    # A wrong path prefix in LD_BASE_URI makes every endpoint 404: not one RED row per project. The client
    # words it (the base URL looks wrong); gather must let it through rather than drop the suggestions.
    not_found = NotFoundError("The LaunchDarkly base URL looks wrong: …", status=404)
    ld = FakeLaunchDarkly({}, list_error=not_found)

    with pytest.raises(NotFoundError) as raised:
        asyncio.run(gather_facts(MAPPINGS, ld, None))

    assert raised.value is not_found
    assert ld.calls == [("get_projects", "default"), ("list_metrics", "default"), ("list_projects",)]


def test_a_single_missing_project_stays_a_red_row_with_no_extra_request() -> None:
    ld = FakeLaunchDarkly({"other": LdProject("other", "Other")})

    facts = asyncio.run(gather_facts(MAPPINGS[:1], ld, None))

    assert facts.ld["default"] == LdFacts("default", None)
    assert facts.ld_project_keys == ("other",)
    assert ld.calls == [("get_projects", "default"), ("list_metrics", "default"), ("list_projects",)]


@pytest.mark.parametrize("error", [NotFoundError("gone", status=404), PermissionDeniedError("denied", status=403)])
def test_metrics_error_is_recorded_per_project(error: ServiceError) -> None:
    ld = FakeLaunchDarkly({"default": DEFAULT}, metric_errors={"default": error})
    facts = asyncio.run(gather_facts(MAPPINGS, ld, None))
    assert facts.ld["default"] == LdFacts("default", DEFAULT, (), error)


def test_other_service_errors_propagate() -> None:
    ld = FakeLaunchDarkly({"default": DEFAULT}, metric_errors={"default": NetworkError("down")})
    with pytest.raises(NetworkError):
        asyncio.run(gather_facts(MAPPINGS, ld, None))


def test_sentry_failure_cancels_the_launchdarkly_half() -> None:
    cancelled = []

    class SlowLaunchDarkly(FakeLaunchDarkly):
        async def get_projects(
            self, keys: Sequence[str], choice: FilterChoice | None = None
        ) -> dict[str, LdProject | None]:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.append(keys[0])
                raise
            return {}

    sentry = FakeSentry([], {}, error=AuthFailedError("bad token", status=401))
    with pytest.raises(AuthFailedError):
        asyncio.run(gather_facts(MAPPINGS, SlowLaunchDarkly({}), sentry))
    assert cancelled == ["default"]


def test_skipped_sentry_half() -> None:
    ld = FakeLaunchDarkly({"default": DEFAULT}, {"default": [METRIC]})
    facts = asyncio.run(gather_facts(MAPPINGS, ld, None, sentry_unchecked_reason="no token"))
    assert facts.sentry == SentryFacts(None, {}, "no token")


def test_sentry_environments_only_for_existing_projects() -> None:
    mappings = (
        ProjectMapping("web", "production", "default", "production"),
        ProjectMapping("ghost", "production", "default", "production"),
    )
    ld = FakeLaunchDarkly({"default": DEFAULT})
    sentry = FakeSentry([WEB], {"web": ENVS})
    facts = asyncio.run(gather_facts(mappings, ld, sentry))
    assert sorted(sentry.calls) == [("hidden_environment_names",), ("list_environments", "web"), ("list_projects",)]
    assert facts.sentry.environments == {"web": tuple(ENVS)}


def test_a_project_whose_environments_vanish_has_no_environment_entry() -> None:
    sentry = FakeSentry([WEB, API], {"web": ENVS, "api": None})
    facts = asyncio.run(gather_facts(MAPPINGS, FakeLaunchDarkly({"default": DEFAULT}), sentry))
    assert facts.sentry.environments == {"web": tuple(ENVS)}


def test_launchdarkly_and_sentry_run_concurrently() -> None:
    order: list[str] = []

    class TracingLaunchDarkly(FakeLaunchDarkly):
        async def get_projects(
            self, keys: Sequence[str], choice: FilterChoice | None = None
        ) -> dict[str, LdProject | None]:
            order.append("ld start")
            await asyncio.sleep(0.01)
            order.append("ld end")
            return {"default": DEFAULT}

    class TracingSentry(FakeSentry):
        async def list_projects(self) -> list[SentryProject]:
            order.append("sentry start")
            await asyncio.sleep(0.01)
            order.append("sentry end")
            return [WEB, API]

    asyncio.run(gather_facts(MAPPINGS, TracingLaunchDarkly({}), TracingSentry([], {})))
    assert order.index("sentry start") < order.index("ld end")
    assert order.index("ld start") < order.index("sentry end")


def test_distinct_ld_projects_are_fetched_concurrently() -> None:
    in_flight = 0
    peak = 0

    class Counting(FakeLaunchDarkly):
        async def list_metrics(self, project_key: str) -> list[LdMetric]:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return []

    mappings = [ProjectMapping("web", "production", f"p{i}", "production") for i in range(5)]
    asyncio.run(gather_facts(mappings, Counting({}), None, suggest_projects=False))
    assert peak == 5


def test_progress_reports_done_and_total() -> None:
    seen: list[tuple[int, int]] = []
    ld = FakeLaunchDarkly({"default": DEFAULT}, {"default": [METRIC]})
    sentry = FakeSentry([WEB], {"web": ENVS})  # "api" is missing: its unit is dropped
    asyncio.run(gather_facts(MAPPINGS, ld, sentry, progress=lambda done, total: seen.append((done, total))))
    assert seen[0] == (0, 4)  # 1 LaunchDarkly project + Sentry's list + 2 Sentry projects
    assert seen[-1] == (3, 3)
    assert all(done <= total for done, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_progress_without_sentry() -> None:
    seen: list[tuple[int, int]] = []
    ld = FakeLaunchDarkly({"default": DEFAULT})
    asyncio.run(gather_facts(MAPPINGS, ld, None, progress=lambda done, total: seen.append((done, total))))
    assert seen == [(0, 1), (1, 1)]


def test_run_all_keeps_order() -> None:
    async def value(n: int) -> int:
        await asyncio.sleep(0.001 * (3 - n))
        return n

    assert asyncio.run(run_all(value(n) for n in range(3))) == [0, 1, 2]
    assert asyncio.run(run_all([])) == []


def test_gather_ld_facts_alone() -> None:
    seen: list[tuple[int, int]] = []
    ld = FakeLaunchDarkly({"default": DEFAULT}, {"default": [METRIC]})
    facts, known = asyncio.run(
        gather_ld_facts(["default", "gone", "default"], ld, progress=lambda d, t: seen.append((d, t)))
    )
    assert facts == {"default": LdFacts("default", DEFAULT, (METRIC,)), "gone": LdFacts("gone", None)}
    assert known == ("default",)
    assert sorted(ld.calls) == [
        ("get_projects", "default", "gone"),
        ("list_metrics", "default"),
        ("list_metrics", "gone"),
        ("list_projects",),
    ]
    assert seen[0] == (0, 2)
    assert seen[-1] == (2, 2)


# --- the fewest requests: event-key metrics, units only where graded, Sentry's organization lists ---


def test_with_metric_settings_only_event_metrics_are_read_and_units_only_where_a_metric_is_graded() -> None:
    other = LdProject("other", "Other", (PRODUCTION,))
    ld = FakeLaunchDarkly(
        {"default": DEFAULT, "other": other},
        {"default": [METRIC], "other": [LdMetric("signup", "Signup", "custom", "signup")]},
        units={"default": ("user", "request")},
    )
    mappings = (*MAPPINGS, ProjectMapping("web", "production", "other", "production"))
    facts = asyncio.run(gather_facts(mappings, ld, None, metric=MetricSettings()))
    assert sorted(ld.calls) == [
        ("experiment_units", "default"),
        ("get_projects", "default", "other"),
        ("list_event_metrics", "default", "sentry-errors"),
        ("list_event_metrics", "other", "sentry-errors"),
    ]
    assert facts.ld["default"] == LdFacts("default", DEFAULT, (METRIC,), experiment_units=("user", "request"))
    assert facts.ld["other"] == LdFacts("other", other, ())


@pytest.mark.parametrize(
    "error", [PermissionDeniedError("no", status=403), ApiError("gone", status=405), NotFoundError("x", status=404)]
)
def test_units_that_cannot_be_read_stay_unknown(error: ServiceError) -> None:
    ld = FakeLaunchDarkly({"default": DEFAULT}, {"default": [METRIC]}, unit_errors={"default": error})
    facts, _ = asyncio.run(gather_ld_facts(["default"], ld, metric=MetricSettings()))
    assert facts["default"] == LdFacts("default", DEFAULT, (METRIC,), experiment_units=None)


def test_a_server_error_on_units_fails_the_run() -> None:
    failure = ApiError("down", status=503)
    ld = FakeLaunchDarkly({"default": DEFAULT}, {"default": [METRIC]}, unit_errors={"default": failure})
    with pytest.raises(ApiError) as raised:
        asyncio.run(gather_ld_facts(["default"], ld, metric=MetricSettings()))
    assert raised.value is failure


LISTED_WEB = SentryProject("1", "web", environments=("production", "staging"))
LISTED_API = SentryProject("2", "api", environments=("production",))


def test_listed_environments_hidden_nowhere_settle_every_mapping_in_two_requests() -> None:
    sentry = FakeSentry([LISTED_WEB, LISTED_API], {})
    facts = asyncio.run(gather_facts(MAPPINGS, FakeLaunchDarkly({"default": DEFAULT}), sentry))
    assert sorted(sentry.calls) == [("hidden_environment_names",), ("list_projects",)]
    assert facts.sentry.environments == {
        "web": (SentryEnvironment("production"), SentryEnvironment("staging")),
        "api": (SentryEnvironment("production"),),
    }


def test_an_environment_neither_listed_nor_hidden_anywhere_is_missing_without_asking() -> None:
    mappings = (ProjectMapping("api", "staging", "default", "production"),)
    sentry = FakeSentry([LISTED_API], {}, hidden=frozenset({"qa"}))
    facts = asyncio.run(gather_facts(mappings, FakeLaunchDarkly({"default": DEFAULT}), sentry))
    assert ("list_environments", "api") not in sentry.calls
    assert facts.sentry.environments == {"api": (SentryEnvironment("production"),)}


def test_only_a_project_whose_mapped_environment_is_hidden_somewhere_is_asked() -> None:
    hidden_staging = [SentryEnvironment("production"), SentryEnvironment("staging", is_hidden=True)]
    sentry = FakeSentry(
        [SentryProject("1", "web", environments=("production",)), LISTED_API],
        {"web": hidden_staging},
        hidden=frozenset({"staging"}),
    )
    facts = asyncio.run(gather_facts(MAPPINGS, FakeLaunchDarkly({"default": DEFAULT}), sentry))
    assert sorted(sentry.calls) == [("hidden_environment_names",), ("list_environments", "web"), ("list_projects",)]
    assert facts.sentry.environments["web"] == tuple(hidden_staging)


@pytest.mark.parametrize(
    "failure", [ApiError("bad", status=400), NotFoundError("old", status=404), PermissionDeniedError("no", status=403)]
)
def test_without_the_hidden_list_every_mapped_project_is_asked(failure: ServiceError) -> None:
    sentry = FakeSentry([LISTED_WEB, LISTED_API], {"web": ENVS, "api": ENVS}, hidden=failure)
    facts = asyncio.run(gather_facts(MAPPINGS, FakeLaunchDarkly({"default": DEFAULT}), sentry))
    assert sorted(c for c in sentry.calls if c[0] == "list_environments") == [
        ("list_environments", "api"),
        ("list_environments", "web"),
    ]
    assert facts.sentry.environments == {"web": tuple(ENVS), "api": tuple(ENVS)}
