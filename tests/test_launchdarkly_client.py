"""LaunchDarklyClient: headers, token and URL selection, parsing, pagination, conflicts, secrets."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest
import respx
from support import METRIC_POST_BODY, FakeTime

from ld_sentry_cli import __version__
from ld_sentry_cli.api_models import LdCaller, LdEnvironment, LdMetric, LdProject
from ld_sentry_cli.errors import ApiError, ExitCode, MissingTokenError, NotFoundError, ServiceConflictError
from ld_sentry_cli.http import RetryPolicy, SessionOptions
from ld_sentry_cli.launchdarkly import (
    LaunchDarklyClient,
    LdInstance,
    launchdarkly_base_url,
    launchdarkly_events_base_url,
    launchdarkly_instance,
    launchdarkly_token,
    metric_post_body,
)
from ld_sentry_cli.models import MetricKind, MetricSettings

T = TypeVar("T")
BASE = "https://app.launchdarkly.com"
TOKEN = "api-11112222-3333-4444-5555-666677778888"
SDK_KEY = "sdk-aaaabbbb-cccc-dddd-eeee-ffff00001111"
MOBILE_KEY = "mob-aaaabbbb-cccc-dddd-eeee-ffff00001111"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def client(base_url: str = BASE) -> LaunchDarklyClient:
    options = FakeTime().options(retry=RetryPolicy(max_attempts=3))
    return LaunchDarklyClient(TOKEN, base_url=base_url, options=options)


async def call(method: str, *args: Any, **kwargs: Any) -> Any:
    async with client() as ld:
        return await getattr(ld, method)(*args, **kwargs)


def env_payload(key: str, name: str | None = None) -> dict[str, Any]:
    return {
        "_id": f"id-{key}",
        "key": key,
        "name": name or key.title(),
        "apiKey": SDK_KEY,
        "mobileKey": MOBILE_KEY,
        "color": "F5A623",
        "unknownFutureField": {"nested": True},
    }


def metric_payload(key: str, event_key: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "_id": f"id-{key}",
        "key": key,
        "name": key.replace("-", " ").title(),
        "kind": "custom",
        "eventKey": event_key or key,
        "isNumeric": False,
        "tags": [],
        "_links": {},
        **extra,
    }


# --- configuration helpers ----------------------------------------------------------------------


def test_token_prefers_ld_access_token() -> None:
    both = {"LD_ACCESS_TOKEN": TOKEN, "LAUNCHDARKLY_ACCESS_TOKEN": "api-other"}
    assert launchdarkly_token(both) == TOKEN
    assert launchdarkly_token({"LAUNCHDARKLY_ACCESS_TOKEN": f" {TOKEN} "}) == TOKEN
    assert launchdarkly_token({"LD_ACCESS_TOKEN": "", "LAUNCHDARKLY_ACCESS_TOKEN": TOKEN}) == TOKEN


def test_missing_token_names_both_variables() -> None:
    with pytest.raises(MissingTokenError) as caught:
        launchdarkly_token({})
    assert caught.value.message == "No LaunchDarkly access token: set LD_ACCESS_TOKEN or LAUNCHDARKLY_ACCESS_TOKEN."
    assert caught.value.hint == (
        "Create a personal or service access token (api-…) in LaunchDarkly under Organization settings → "
        "Authorization; a Reader role is enough to check, creating metrics needs Writer."
    )
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("key", [SDK_KEY, MOBILE_KEY])
def test_an_sdk_key_is_not_an_access_token(key: str) -> None:
    with pytest.raises(MissingTokenError) as caught:
        launchdarkly_token({"LD_ACCESS_TOKEN": key})
    assert caught.value.message == (
        "LD_ACCESS_TOKEN holds an SDK or mobile key; the LaunchDarkly REST API needs an access token."
    )
    assert key not in str(caught.value)


def test_base_url_precedence() -> None:
    env = {"LD_BASE_URI": "https://app.eu.launchdarkly.com/"}
    assert (
        launchdarkly_base_url("https://config.test", explicit="https://flag.test", environ=env) == "https://flag.test"
    )
    assert launchdarkly_base_url("https://config.test", environ=env) == "https://app.eu.launchdarkly.com"
    assert launchdarkly_base_url("https://config.test", environ={}) == "https://config.test"
    assert launchdarkly_base_url(None, environ={"LD_BASE_URI": " "}) == "https://app.launchdarkly.com"


def test_base_url_from_the_environment_is_validated() -> None:
    with pytest.raises(Exception) as caught:
        launchdarkly_base_url(None, environ={"LD_BASE_URI": "http://ld.internal"})
    assert str(caught.value) == (
        "Refusing to send the LaunchDarkly token over plain http to ld.internal: use https:// "
        "(plain http is allowed only for loopback hosts: localhost, 127.0.0.0/8, ::1)."
    )


@pytest.mark.parametrize(
    ("base", "instance", "events"),
    [
        ("https://app.launchdarkly.com", LdInstance.COMMERCIAL, "https://events.launchdarkly.com"),
        ("https://app.eu.launchdarkly.com/", LdInstance.EU, "https://events.eu.launchdarkly.com"),
        ("https://app.launchdarkly.us", LdInstance.FEDERAL, "https://events.launchdarkly.us"),
        ("https://ld.corp.example", LdInstance.CUSTOM, "https://ld.corp.example"),
        ("http://127.0.0.1:8765/", LdInstance.CUSTOM, "http://127.0.0.1:8765"),
    ],
)
def test_instances_and_events_urls(base: str, instance: LdInstance, events: str) -> None:
    assert launchdarkly_instance(base) is instance
    assert launchdarkly_events_base_url(base) == events
    assert launchdarkly_events_base_url(base, "https://relay.test/") == "https://relay.test"


def test_metric_post_body_binary_and_count() -> None:
    binary = metric_post_body(MetricSettings())
    assert list(binary) == list(METRIC_POST_BODY)  # the order sent, too
    assert binary == METRIC_POST_BODY
    count = metric_post_body(
        MetricSettings(event_key="errs", key="errs-count", kind=MetricKind.COUNT, units=("request", "user"))
    )
    assert (count["key"], count["eventKey"], count["unitAggregationType"]) == ("errs-count", "errs", "sum")
    assert count["analysisUnits"] == ["request", "user"]
    assert "randomizationUnits" not in count


# --- requests -----------------------------------------------------------------------------------


@respx.mock(base_url=BASE)
def test_headers_are_raw_token_and_api_version(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/api/v2/caller-identity").respond(
        json={"accountId": "acc1", "tokenName": "ci", "tokenKind": "service", "scopes": ["reader"]}
    )
    assert run(call("caller_identity")) == LdCaller(account_id="acc1", token_name="ci", token_kind="service")
    headers = route.calls.last.request.headers
    assert headers["Authorization"] == TOKEN
    assert headers["LD-API-Version"] == "20240415"
    assert headers["User-Agent"] == f"ldsentry/{__version__}"


@respx.mock(base_url=BASE)
def test_get_project_drops_sdk_keys_and_tolerates_unknown_fields(
    respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    route = respx_mock.get("/api/v2/projects/default").respond(
        json={
            "key": "default",
            "name": "Default",
            "newField": 1,
            "environments": {"items": [env_payload("production"), env_payload("test")], "totalCount": 2},
        }
    )
    project = run(call("get_project", "default"))
    assert route.calls.last.request.url.params["expand"] == "environments"
    assert project == LdProject(
        key="default",
        name="Default",
        environments=(LdEnvironment("production", "Production"), LdEnvironment("test", "Test")),
    )
    assert project.environment_keys == ("production", "test")
    everything = repr(dataclasses.asdict(project))
    assert SDK_KEY not in everything
    assert MOBILE_KEY not in everything
    assert SDK_KEY not in caplog.text
    assert MOBILE_KEY not in caplog.text
    assert TOKEN not in caplog.text


@respx.mock(base_url=BASE)
def test_get_project_returns_none_on_404(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/v2/projects/nope").respond(404, json={"code": "not_found", "message": "Unknown"})
    assert run(call("get_project", "nope")) is None


@respx.mock(base_url=BASE)
def test_get_project_fetches_the_rest_of_a_paginated_environment_collection(respx_mock: respx.MockRouter) -> None:
    embedded = [env_payload(f"env{i}") for i in range(20)]
    respx_mock.get("/api/v2/projects/big").respond(
        json={"key": "big", "name": "Big", "environments": {"items": embedded, "totalCount": 45}}
    )
    rest = respx_mock.get("/api/v2/projects/big/environments").mock(
        side_effect=[
            httpx.Response(200, json={"items": [env_payload(f"env{i}") for i in range(20, 40)], "totalCount": 45}),
            httpx.Response(200, json={"items": [env_payload(f"env{i}") for i in range(40, 45)], "totalCount": 45}),
        ]
    )
    project = run(call("get_project", "big"))
    assert project.environment_keys == tuple(f"env{i}" for i in range(45))
    assert [(c.request.url.params["offset"], c.request.url.params["limit"]) for c in rest.calls] == [
        ("20", "20"),
        ("40", "20"),
    ]


@respx.mock(base_url=BASE)
def test_get_project_accepts_a_plain_environment_list(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/v2/projects/old").respond(json={"key": "old", "environments": [{"key": "prod"}]})
    assert run(call("get_project", "old")) == LdProject("old", "old", (LdEnvironment("prod", "prod"),))


@respx.mock(base_url=BASE)
def test_project_keys_are_escaped_in_paths(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(url__regex=r".*/api/v2/projects/.*").respond(404)
    assert run(call("get_project", "a/b?c")) is None
    assert route.calls.last.request.url.raw_path == b"/api/v2/projects/a%2Fb%3Fc?expand=environments"


@respx.mock(base_url=BASE)
def test_list_projects_pages_through_everything(respx_mock: respx.MockRouter) -> None:
    pages = [
        {"items": [{"key": f"p{i}", "name": f"P{i}"} for i in range(s, min(s + 20, 43))], "totalCount": 43}
        for s in (0, 20, 40)
    ]
    respx_mock.get("/api/v2/projects").mock(side_effect=[httpx.Response(200, json=p) for p in pages])
    projects = run(call("list_projects"))
    assert [p.key for p in projects] == [f"p{i}" for i in range(43)]
    assert all(p.environments == () for p in projects)


@pytest.mark.parametrize(("method", "args"), [("list_projects", ()), ("get_projects", (["default"],))])
@respx.mock(base_url=BASE)
def test_a_projects_list_that_is_not_found_means_a_wrong_base_url(
    respx_mock: respx.MockRouter, method: str, args: tuple[Any, ...]
) -> None:
    # One missing project is None (a red row); a missing list of projects means no project is there at all.
    respx_mock.get("/api/v2/projects").respond(
        404, json={"code": "not_found", "message": "Invalid resource identifier"}
    )
    with pytest.raises(NotFoundError) as raised:
        run(call(method, *args))
    assert raised.value.message == (
        "The LaunchDarkly base URL looks wrong: LaunchDarkly has no such resource (HTTP 404 on GET "
        "/api/v2/projects): Invalid resource identifier (not_found)"
    )
    assert raised.value.hint == (
        "Not even the list of projects is found there. Set LD_BASE_URI (or [launchdarkly] base_url) to the "
        "address before /api/v2, for example https://app.launchdarkly.com."
    )
    assert raised.value.exit_code == 3


@respx.mock(base_url=BASE)
def test_list_metrics_pages_by_50_and_finds_the_metric_on_the_last_page(respx_mock: respx.MockRouter) -> None:
    def page(start: int, count: int) -> httpx.Response:
        items = [metric_payload(f"metric-{i}") for i in range(start, start + count)]
        if start == 100:
            items[-1] = metric_payload("sentry-errors", unitAggregationType="average", lastSeen=1700000000000)
        return httpx.Response(200, json={"items": items, "totalCount": 107, "_links": {}})

    route = respx_mock.get("/api/v2/metrics/default").mock(side_effect=[page(0, 50), page(50, 50), page(100, 7)])
    metrics = run(call("list_metrics", "default"))
    params = [c.request.url.params for c in route.calls]
    assert [(p["limit"], p["offset"]) for p in params] == [("50", "0"), ("50", "50"), ("50", "100")]
    assert all(int(p["limit"]) <= 50 for p in params)
    assert "filter" not in params[0]
    assert len(metrics) == 107
    assert metrics[-1] == LdMetric(
        key="sentry-errors",
        name="Sentry Errors",
        kind="custom",
        event_key="sentry-errors",
        is_numeric=False,
        unit_aggregation_type="average",
        last_seen=1700000000000,
    )


@respx.mock(base_url=BASE)
def test_list_metrics_can_filter_to_custom_metrics(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/api/v2/metrics/default").respond(json={"items": [], "totalCount": 0})
    assert run(call("list_metrics", "default", custom_only=True)) == []
    assert route.calls.last.request.url.params["filter"] == "eventKind equals custom"


@respx.mock(base_url=BASE)
def test_list_metrics_raises_not_found_for_an_unknown_project(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/v2/metrics/ghost").respond(
        404, json={"code": "not_found", "message": "Invalid resource identifier"}
    )
    with pytest.raises(NotFoundError) as caught:
        run(call("list_metrics", "ghost"))
    assert caught.value.message == (
        "LaunchDarkly has no such resource (HTTP 404 on GET /api/v2/metrics/ghost): "
        "Invalid resource identifier (not_found)"
    )


@respx.mock(base_url=BASE)
def test_get_metric_parses_fields_and_returns_none_on_404(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/v2/metrics/default/sentry-errors").respond(
        json=metric_payload(
            "sentry-errors",
            isNumeric=True,
            archived=True,
            successCriteria="HigherThanBaseline",
            analysisUnits=["user", "request", 3],
        )
    )
    respx_mock.get("/api/v2/metrics/default/missing").respond(404, json={"code": "not_found", "message": "x"})
    metric = run(call("get_metric", "default", "sentry-errors"))
    assert metric == LdMetric(
        key="sentry-errors",
        name="Sentry Errors",
        kind="custom",
        event_key="sentry-errors",
        is_numeric=True,
        success_criteria="HigherThanBaseline",
        archived=True,
        analysis_units=("user", "request"),
    )
    assert run(call("get_metric", "default", "missing")) is None


@respx.mock(base_url=BASE)
def test_malformed_metric_payload_is_an_api_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/v2/metrics/default/x").respond(json={"name": "no key"})
    with pytest.raises(ApiError, match=r"^LaunchDarkly sent a metric without a key\.$"):
        run(call("get_metric", "default", "x"))


@respx.mock(base_url=BASE)
def test_create_metric_posts_the_body_once(respx_mock: respx.MockRouter) -> None:
    body = metric_post_body(MetricSettings())
    route = respx_mock.post("/api/v2/metrics/default").respond(201, json=metric_payload("sentry-errors"))
    metric = run(call("create_metric", "default", body))
    assert metric.key == "sentry-errors"
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/json"
    assert request.content == json.dumps(METRIC_POST_BODY, separators=(",", ":")).encode()  # compact, in order


@pytest.mark.parametrize(
    ("status", "payload"),
    [
        (409, {"code": "conflict", "message": "Conflict"}),
        (400, {"code": "invalid_request", "message": "A metric with that key already exists"}),
    ],
)
def test_create_metric_conflicts(status: int, payload: dict[str, str]) -> None:
    with respx.mock(base_url=BASE) as router:
        route = router.post("/api/v2/metrics/default").respond(status, json=payload)
        with pytest.raises(ServiceConflictError) as caught:
            run(call("create_metric", "default", {"key": "sentry-errors", "kind": "custom"}))
    assert route.call_count == 1
    assert caught.value.message == "LaunchDarkly project 'default' already has a metric with key 'sentry-errors'."
    assert caught.value.hint == "Re-read the project's metrics to see how the existing metric is configured."
    assert caught.value.status == status


def test_create_metric_other_400_stays_an_api_error() -> None:
    with respx.mock(base_url=BASE) as router:
        router.post("/api/v2/metrics/default").respond(
            400, json={"code": "invalid_request", "message": "eventKey is required"}
        )
        with pytest.raises(ApiError) as caught:
            run(call("create_metric", "default", {"key": "k", "kind": "custom"}))
    assert caught.value.message == (
        "LaunchDarkly refused the request (HTTP 400 on POST /api/v2/metrics/default): "
        "eventKey is required (invalid_request)"
    )


def test_create_metric_is_never_retried_by_the_http_layer() -> None:
    with respx.mock(base_url=BASE) as router:
        route = router.post("/api/v2/metrics/default").mock(
            side_effect=[httpx.Response(502), httpx.Response(201, json=metric_payload("k"))]
        )
        with pytest.raises(ApiError):
            run(call("create_metric", "default", {"key": "k", "kind": "custom"}))
    assert route.call_count == 1


@respx.mock(base_url=BASE)
def test_401_hint_names_the_token_variables(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/v2/caller-identity").respond(
        401, json={"code": "unauthorized", "message": "Invalid access token"}
    )
    with pytest.raises(Exception) as caught:
        run(call("caller_identity"))
    assert str(caught.value) == (
        "LaunchDarkly rejected the token (HTTP 401 on GET /api/v2/caller-identity): Invalid access token (unauthorized)"
    )
    assert caught.value.hint == (  # type: ignore[attr-defined]
        "Check LD_ACCESS_TOKEN (or LAUNCHDARKLY_ACCESS_TOKEN): it must be a valid access token (api-…)."
    )
    assert TOKEN not in str(caught.value)


def test_from_env_builds_a_client_and_registers_the_token() -> None:
    env = {"LD_ACCESS_TOKEN": "custom-token-value-1234", "LD_BASE_URI": "http://localhost:9999"}
    options = SessionOptions(retry=RetryPolicy(max_attempts=1))
    ld = LaunchDarklyClient.from_env(config_base_url="https://ignored.test", environ=env, options=options)
    assert ld.base_url == "http://localhost:9999"
    with respx.mock(base_url="http://localhost:9999") as router:
        router.get("/api/v2/caller-identity").respond(400, json={"message": "echo custom-token-value-1234"})
        with pytest.raises(ApiError) as caught:
            run(ld.caller_identity())
    assert "custom-token-value-1234" not in caught.value.message
    assert caught.value.message.endswith(": echo [REDACTED]")
