"""LaunchDarkly's API as it is now: the `keys` and `eventKeys` filters with their fallbacks, analysis units,
data sources and experimentation settings (launchdarkly-api.md §1.7, §2.2)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest
import respx
from support import FakeTime

from ld_sentry_cli.api_models import LdEnvironment, LdMetric
from ld_sentry_cli.errors import ApiError, NotFoundError, PermissionDeniedError
from ld_sentry_cli.filter_choice import FilterChoice, FilterVerdict
from ld_sentry_cli.http import RetryPolicy
from ld_sentry_cli.launchdarkly import LaunchDarklyClient, metric_post_body, parse_metric
from ld_sentry_cli.models import MetricSettings

T = TypeVar("T")
BASE = "https://app.launchdarkly.com"
TOKEN = "api-11112222-3333-4444-5555-666677778888"
EVENT_FILTER = 'eventKeys anyOf ["sentry-errors"]'


def run(action: Callable[[LaunchDarklyClient], Coroutine[Any, Any, T]]) -> T:
    async def go() -> T:
        options = FakeTime().options(retry=RetryPolicy(max_attempts=2))
        async with LaunchDarklyClient(TOKEN, base_url=BASE, options=options) as ld:
            return await action(ld)

    return asyncio.run(go())


def project(key: str, environments: int = 1, total: int | None = None) -> dict[str, Any]:
    items = [{"key": f"env-{n}", "name": f"Env {n}", "apiKey": "sdk-x"} for n in range(environments)]
    return {
        "key": key,
        "name": key.title(),
        "environments": {"items": items, "totalCount": total if total is not None else environments},
    }


def collection(items: list[Any], total: int | None = None) -> dict[str, Any]:
    return {"items": items, "totalCount": len(items) if total is None else total, "_links": {}}


def metric(key: str, event_key: str) -> dict[str, Any]:
    return {"key": key, "name": key, "kind": "custom", "eventKey": event_key, "isNumeric": False}


# --- projects through `filter=keys:` -------------------------------------------------------------


class ProjectsServer:
    """Answers GET /api/v2/projects honouring, ignoring or refusing `filter=keys:`."""

    def __init__(self, existing: list[str], mode: str = "honour") -> None:
        self.existing = existing
        self.mode = mode

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        limit, offset = int(params["limit"]), int(params["offset"])
        chosen = self.existing
        if "filter" in params:
            if self.mode == "reject":
                return httpx.Response(400, json={"code": "invalid_request", "message": "unknown filter"})
            if self.mode == "honour":
                asked = params["filter"].removeprefix("keys:").split("|")
                chosen = [key for key in self.existing if key in asked]
        page = [project(key) for key in chosen[offset : offset + limit]]
        return httpx.Response(200, json=collection(page, len(chosen)))


def test_projects_come_from_one_filtered_page_and_absent_ones_do_not_exist() -> None:
    server = ProjectsServer(["a", "b", "c", "unasked"])
    with respx.mock(base_url=BASE) as router:
        route = router.get("/api/v2/projects").mock(side_effect=server)
        found = run(lambda ld: ld.get_projects(["a", "b", "ghost", "a"]))
    assert list(found) == ["a", "b", "ghost"]
    assert found["a"] is not None and found["a"].environments == (LdEnvironment("env-0", "Env 0"),)
    assert found["ghost"] is None
    (call,) = route.calls
    assert dict(call.request.url.params) == {
        "filter": "keys:a|b|ghost",
        "expand": "environments",
        "limit": "20",
        "offset": "0",
    }


def test_keys_go_in_groups_of_one_page_and_an_incomplete_environment_list_is_completed() -> None:
    keys = [f"p{n:02d}" for n in range(25)]
    server = ProjectsServer(keys)
    server_many = {"p03": project("p03", environments=1, total=2)}
    with respx.mock(base_url=BASE) as router:

        def answer(request: httpx.Request) -> httpx.Response:
            response = server(request)
            body = json.loads(response.content)
            body["items"] = [server_many.get(item["key"], item) for item in body["items"]]
            return httpx.Response(200, json=body)

        route = router.get("/api/v2/projects").mock(side_effect=answer)
        rest = router.get("/api/v2/projects/p03/environments").respond(
            json=collection([{"key": "env-1", "name": "Env 1"}], 2)
        )
        found = run(lambda ld: ld.get_projects(keys))
    assert [call.request.url.params["filter"].count("|") + 1 for call in route.calls] == [20, 5]
    assert rest.call_count == 1 and rest.calls.last.request.url.params["offset"] == "1"
    assert found["p03"] is not None and found["p03"].environment_keys == ("env-0", "env-1")
    assert all(found[key] is not None for key in keys)


@pytest.mark.parametrize("mode", ["ignore", "reject"])
def test_a_filter_ignored_or_refused_falls_back_to_one_request_per_project(mode: str) -> None:
    choice = FilterChoice("keys")
    server = ProjectsServer(["a", "other", "b"], mode)
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get("/api/v2/projects").mock(side_effect=server)
        single_a = router.get("/api/v2/projects/a").respond(json=project("a"))
        single_b = router.get("/api/v2/projects/b").respond(json=project("b"))
        router.get("/api/v2/projects/ghost").respond(404, json={"code": "not_found", "message": "x"})
        found = run(lambda ld: ld.get_projects(["a", "b", "ghost"], choice))
    assert choice.verdict is (FilterVerdict.IGNORED if mode == "ignore" else FilterVerdict.REJECTED)
    assert found["a"] is not None and found["b"] is not None and found["ghost"] is None
    # An ignored filter's page already held "a" and "b": they are not asked again.
    assert (single_a.call_count, single_b.call_count) == ((0, 0) if mode == "ignore" else (1, 1))


def test_a_key_with_filter_separators_is_asked_on_its_own() -> None:
    with respx.mock(base_url=BASE) as router:
        listing = router.get("/api/v2/projects").mock(side_effect=ProjectsServer(["a"]))
        odd = router.get("/api/v2/projects/a%7Cb").respond(404, json={"code": "not_found", "message": "x"})
        found = run(lambda ld: ld.get_projects(["a", "a|b"]))
    assert listing.calls.last.request.url.params["filter"] == "keys:a"
    assert odd.call_count == 1
    assert found["a|b"] is None


# --- metrics through `filter=eventKeys anyOf [...]` ----------------------------------------------


class MetricsServer:
    """Answers GET /api/v2/metrics/{project} honouring, ignoring or refusing the eventKeys filter."""

    def __init__(self, metrics: dict[str, list[dict[str, Any]]], mode: str = "honour") -> None:
        self.metrics = metrics
        self.mode = mode
        self.seen: list[tuple[str, str | None, int]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        key = request.url.path.rsplit("/", 1)[1]
        params = request.url.params
        self.seen.append((key, params.get("filter"), int(params["offset"])))
        if key not in self.metrics:
            return httpx.Response(404, json={"code": "not_found", "message": "Invalid resource identifier"})
        items = self.metrics[key]
        if "filter" in params:
            if self.mode == "reject":
                return httpx.Response(400, json={"code": "invalid_request", "message": "Unsupported filter eventKeys"})
            if self.mode == "honour":
                wanted = json.loads(params["filter"].removeprefix("eventKeys anyOf "))
                items = [item for item in items if item["eventKey"] in wanted]
        limit, offset = int(params["limit"]), int(params["offset"])
        return httpx.Response(200, json=collection(items[offset : offset + limit], len(items)))


def fillers(count: int) -> list[dict[str, Any]]:
    return [metric(f"filler-{n}", f"other-{n}") for n in range(count)]


SENTRY_METRIC = metric("sentry-errors", "sentry-errors")
BIG = {"big": [*fillers(120), SENTRY_METRIC], "small": [SENTRY_METRIC]}


def read_all(server: MetricsServer, keys: list[str]) -> tuple[FilterChoice, list[list[LdMetric] | Exception]]:
    choice = FilterChoice("eventKeys")

    async def action(ld: LaunchDarklyClient) -> list[list[LdMetric] | Exception]:
        results = await asyncio.gather(
            *(ld.list_event_metrics(key, "sentry-errors", choice) for key in keys), return_exceptions=True
        )
        return [r if isinstance(r, (list, Exception)) else [] for r in results]

    with respx.mock(base_url=BASE) as router:
        router.get(url__regex=r"/api/v2/metrics/[^/]+$").mock(side_effect=server)
        return choice, run(action)


def test_an_honoured_filter_answers_in_one_request_per_project_whatever_the_number_of_metrics() -> None:
    server = MetricsServer(BIG)
    choice, results = read_all(server, ["big", "small"])
    assert choice.verdict is FilterVerdict.HONOURED
    assert sorted(server.seen) == [("big", EVENT_FILTER, 0), ("small", EVENT_FILTER, 0)]
    assert [[m.key for m in r] for r in results if isinstance(r, list)] == [["sentry-errors"], ["sentry-errors"]]


def test_an_ignored_filter_pages_on_from_its_first_page_and_the_run_stops_sending_it() -> None:
    server = MetricsServer(BIG, mode="ignore")
    choice, results = read_all(server, ["big", "small"])
    assert choice.verdict is FilterVerdict.IGNORED
    big = [seen for seen in server.seen if seen[0] == "big"]
    # The filtered first page is reused: 3 requests for 121 metrics, the full-paging minimum.
    assert sorted(big, key=lambda s: s[2]) == [("big", EVENT_FILTER, 0), ("big", None, 50), ("big", None, 100)]
    assert ("small", None, 0) in server.seen
    assert [len(r) for r in results if isinstance(r, list)] == [121, 1]


def test_a_refused_filter_costs_one_request_in_the_run_not_one_per_project() -> None:
    server = MetricsServer(BIG, mode="reject")
    choice, results = read_all(server, ["big", "small"])
    assert choice.verdict is FilterVerdict.REJECTED
    assert sum(1 for seen in server.seen if seen[1] is not None) == 1
    assert len(server.seen) == 1 + 3 + 1
    assert [len(r) for r in results if isinstance(r, list)] == [121, 1]


def test_the_first_answer_decides_before_the_others_go_and_a_missing_project_decides_nothing() -> None:
    server = MetricsServer(BIG, mode="reject")
    choice, results = read_all(server, ["ghost", "big", "small"])
    assert isinstance(results[0], NotFoundError)
    filtered = [seen for seen in server.seen if seen[1] is not None]
    # "ghost" asked first (404, no verdict), then one more probe refused, then no filter at all.
    assert [seen[0] for seen in filtered] == ["ghost", "big"]
    assert choice.verdict is FilterVerdict.REJECTED


def test_a_non_400_error_with_the_filter_is_raised() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/api/v2/metrics/p").respond(403, json={"code": "forbidden", "message": "no"})
        with pytest.raises(PermissionDeniedError) as raised:
            run(lambda ld: ld.list_event_metrics("p", "sentry-errors"))
    assert raised.value.message == "LaunchDarkly denied permission (HTTP 403 on GET /api/v2/metrics/p): no (forbidden)"


# --- reading metrics as LaunchDarkly sends them now ----------------------------------------------


def test_analysis_units_win_over_randomization_units_and_data_source_is_read() -> None:
    parsed = parse_metric(
        {
            **metric("m", "sentry-errors"),
            "randomizationUnits": ["user"],
            "analysisUnits": ["request"],
            "dataSource": {"key": "snowflake", "environmentKey": "prod", "_name": "Snowflake"},
        }
    )
    assert (parsed.analysis_units, parsed.data_source, parsed.data_source_environment) == (
        ("request",),
        "snowflake",
        "prod",
    )
    assert parse_metric({**metric("m", "e"), "randomizationUnits": ["user"]}).analysis_units == ("user",)


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "trace"},
        {"unitAggregationType": "count_distinct"},
        {"kind": "future-kind", "unitAggregationType": 7, "successCriteria": None, "dataSource": "odd"},
        {"analysisUnits": "user", "dataSource": {"key": 3}},
    ],
)
def test_new_or_odd_values_never_break_parsing(changes: dict[str, Any]) -> None:
    parsed = parse_metric({**metric("m", "e"), **changes})
    assert parsed.key == "m"
    assert parsed.data_source is None  # no case names a data source: an odd one is not passed on


def test_experiment_units_lists_the_kinds_and_a_missing_project_is_none() -> None:
    settings = {
        "_projectKey": "p",
        "randomizationUnits": [
            {"randomizationUnit": "user", "default": True, "_displayName": "User"},
            {"randomizationUnit": "organization", "_hidden": True},
            {"default": False},
            "junk",
        ],
    }
    with respx.mock(base_url=BASE) as router:
        router.get("/api/v2/projects/p/experimentation-settings").respond(json=settings)
        router.get("/api/v2/projects/ghost/experimentation-settings").respond(404, json={"code": "not_found"})
        assert run(lambda ld: ld.experiment_units("p")) == ("user", "organization")
        assert run(lambda ld: ld.experiment_units("ghost")) is None


# --- creating the metric on an instance older than `analysisUnits` ----------------------------------


def test_an_older_instance_refusing_analysis_units_gets_randomization_units_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = metric_post_body(MetricSettings())
    sent: list[dict[str, Any]] = []

    def older(request: httpx.Request) -> httpx.Response:
        posted = json.loads(request.content)
        sent.append(posted)
        if "analysisUnits" in posted:
            return httpx.Response(400, json={"code": "invalid_request", "message": "unknown field analysisUnits"})
        return httpx.Response(201, json={**metric(posted["key"], posted["eventKey"]), "randomizationUnits": ["user"]})

    async def twice(ld: LaunchDarklyClient) -> list[LdMetric]:
        return [await ld.create_metric("a", body), await ld.create_metric("b", body)]

    caplog.set_level(logging.DEBUG, logger="ldsentry")
    with respx.mock(base_url=BASE) as router:
        router.post(url__regex=r"/api/v2/metrics/[ab]$").mock(side_effect=older)
        created = run(twice)
    assert [m.analysis_units for m in created] == [("user",), ("user",)]
    # One refused POST, its retry, then the second project straight with the old name.
    refused_then_old_name = [(True, False), (False, True), (False, True)]
    assert [("analysisUnits" in s, "randomizationUnits" in s) for s in sent] == refused_then_old_name
    assert sent[1] == {("randomizationUnits" if k == "analysisUnits" else k): v for k, v in body.items()}
    assert "LaunchDarkly refused analysisUnits" in caplog.text


def test_a_400_that_does_not_name_analysis_units_is_not_retried() -> None:
    with respx.mock(base_url=BASE) as router:
        route = router.post("/api/v2/metrics/a").respond(400, json={"code": "invalid_request", "message": "bad key"})
        with pytest.raises(ApiError, match="bad key"):
            run(lambda ld: ld.create_metric("a", metric_post_body(MetricSettings())))
    assert route.call_count == 1


# --- the per-run choice itself ----------------------------------------------------------------------


def test_while_undecided_callers_take_turns_and_once_decided_they_all_go() -> None:
    choice = FilterChoice("x")
    log: list[str] = []

    async def caller(name: str, verdict: FilterVerdict | None) -> None:
        async with choice.turn() as use:
            log.append(f"{name} start {use}")
            await asyncio.sleep(0.001)
            if verdict is not None:
                choice.record(verdict)
            log.append(f"{name} end")

    async def main() -> None:
        verdicts = {"a": None, "b": FilterVerdict.IGNORED, "c": None, "d": None}
        await asyncio.gather(*(caller(name, verdict) for name, verdict in verdicts.items()))

    asyncio.run(main())
    assert log[:4] == ["a start True", "a end", "b start True", "b end"]
    assert sorted(log[4:]) == ["c end", "c start False", "d end", "d start False"]
    choice.record(FilterVerdict.HONOURED)
    assert choice.verdict is FilterVerdict.IGNORED  # once off, off for the run


def test_the_first_answer_frees_the_others_before_its_own_paging_is_done() -> None:
    server = MetricsServer(BIG, mode="ignore")
    small_asked = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/big") and request.url.params["offset"] == "0":
            await asyncio.sleep(0.05)  # small is waiting for its turn by the time big's first answer comes
        if request.url.path.endswith("/big") and request.url.params["offset"] != "0":
            # Were the turn held for the whole of big's paging, small could not ask: this would time out.
            await asyncio.wait_for(small_asked.wait(), timeout=2)
        if request.url.path.endswith("/small"):
            small_asked.set()
        return server(request)

    choice = FilterChoice("eventKeys")

    async def action(ld: LaunchDarklyClient) -> list[list[LdMetric]]:
        return list(
            await asyncio.gather(*(ld.list_event_metrics(k, "sentry-errors", choice) for k in ["big", "small"]))
        )

    with respx.mock(base_url=BASE) as router:
        router.get(url__regex=r"/api/v2/metrics/[^/]+$").mock(side_effect=answer)
        results = run(action)
    assert [len(r) for r in results] == [121, 1]
