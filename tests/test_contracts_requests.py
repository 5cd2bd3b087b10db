"""Every request the clients can send matches the published OpenAPI documents (trimmed: tests/contracts/).

Each client method runs against respx routes that answer with contract-valid payloads (LaunchDarkly:
built here and checked against the response schemas; Sentry: the documents' own examples), and
every captured request is validated: path template, method, query parameter names and values,
required parameters, JSON body.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx
from contracts import (
    ContractError,
    json_schema,
    load_spec,
    match_operation,
    validate_all,
    validate_request,
    validate_response,
    validate_schema,
)
from support import FakeTime

from ld_sentry_cli.launchdarkly import LaunchDarklyClient, metric_post_body, with_randomization_units
from ld_sentry_cli.models import MetricKind, MetricSettings
from ld_sentry_cli.sentry import SentryClient

LD_BASE = "https://app.launchdarkly.com"
SENTRY_BASE = "https://sentry.io"
EVENT_ID = "9999aaaaca8b46d797c23c6077c6ff01"

# The Sentry API root is not in the OpenAPI document (sentry-api.md §1 "Token self-check"),
# so it is the one request allowed outside it.
SENTRY_OUTSIDE_SPEC = {("GET", "/api/0/")}


# --- contract-valid payloads --------------------------------------------------------------------


def ld_links(href: str) -> dict[str, Any]:
    return {"self": {"href": href, "type": "application/json"}}


def ld_environment(key: str) -> dict[str, Any]:
    return {
        "_links": ld_links(f"/api/v2/projects/default/environments/{key}"),
        "_id": f"57be1db38b75bf0772d1138{len(key)}",
        "key": key,
        "name": key.title(),
        "apiKey": "sdk-00000000-0000-0000-0000-000000000000",
        "mobileKey": "mob-00000000-0000-0000-0000-000000000000",
        "color": "F5A623",
        "defaultTtl": 5,
        "secureMode": True,
        "defaultTrackEvents": False,
        "requireComments": True,
        "confirmChanges": True,
        "tags": ["ops"],
        "critical": True,
    }


def ld_project(key: str, environments: dict[str, Any] | None = None) -> dict[str, Any]:
    project = {
        "_links": ld_links(f"/api/v2/projects/{key}"),
        "_id": "57be1db38b75bf0772d11383",
        "key": key,
        "includeInSnippetByDefault": True,
        "name": key.title(),
        "tags": [],
    }
    if environments is not None:
        project["environments"] = environments
    return project


def ld_metric(key: str) -> dict[str, Any]:
    return {
        "_id": "5902deadbeef667524a01290",
        "_versionId": "version-id-123abc",
        "key": key,
        "name": "Sentry errors",
        "kind": "custom",
        "eventKey": "sentry-errors",
        "isNumeric": False,
        "tags": ["sentry"],
        "_creationDate": 1628192791148,
        "dataSource": {"key": "launchdarkly-hosted"},
        "_links": ld_links(f"/api/v2/metrics/default/{key}"),
    }


LD_FIXTURES: list[tuple[str, str, int, Any]] = [
    (
        "GET",
        "/api/v2/projects/default",
        200,
        ld_project(
            "default",
            {"items": [ld_environment("production")], "totalCount": 2, "_links": ld_links("/x")},
        ),
    ),
    (
        "GET",
        "/api/v2/projects/default/environments",
        200,
        {"items": [ld_environment("test")], "totalCount": 2, "_links": ld_links("/x")},
    ),
    ("GET", "/api/v2/projects", 200, {"items": [ld_project("default")], "totalCount": 1, "_links": ld_links("/x")}),
    ("GET", "/api/v2/metrics/default", 200, {"items": [ld_metric("sentry-errors")], "totalCount": 1, "_links": {}}),
    ("GET", "/api/v2/metrics/default/sentry-errors", 200, ld_metric("sentry-errors")),
    ("POST", "/api/v2/metrics/default", 201, ld_metric("sentry-errors")),
    ("GET", "/api/v2/caller-identity", 200, {"accountId": "acc", "tokenName": "ci", "tokenKind": "service"}),
    (
        "GET",
        "/api/v2/projects/default/experimentation-settings",
        200,
        {
            "_projectKey": "default",
            "randomizationUnits": [{"randomizationUnit": "user", "default": True, "_displayName": "User"}],
            "_links": ld_links("/api/v2/projects/default/experimentation-settings"),
        },
    ),
]


def sentry_example(path: str) -> Any:
    """The first response example the Sentry document gives for a GET path template."""
    media = load_spec("sentry")["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    return copy.deepcopy(next(iter(media["examples"].values()))["value"])


def sentry_fixtures() -> list[tuple[str, Any, dict[str, str]]]:
    projects = sentry_example("/api/0/organizations/{organization_id_or_slug}/projects/")
    projects[0]["slug"] = "web"
    events = sentry_example("/api/0/organizations/{organization_id_or_slug}/events/")
    events["data"] = [{"id": EVENT_ID, "timestamp": "2026-08-19T20:58:37+00:00"}]
    next_page = (
        f'<{SENTRY_BASE}/x/?cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", '
        f'<{SENTRY_BASE}/x/?cursor=0:1:0>; rel="next"; results="false"; cursor="0:1:0"'
    )
    return [
        ("/api/0/", {"version": "0", "auth": {"scopes": ["org:read"]}, "user": None}, {}),
        ("/api/0/organizations/acme/projects/", projects, {"Link": next_page}),
        (
            "/api/0/projects/acme/web/environments/",
            sentry_example("/api/0/projects/{organization_id_or_slug}/{project_id_or_slug}/environments/"),
            {},
        ),
        (
            "/api/0/organizations/acme/environments/",
            sentry_example("/api/0/organizations/{organization_id_or_slug}/environments/"),
            {},
        ),
        ("/api/0/organizations/acme/events/", events, {"Link": next_page}),
        (
            f"/api/0/projects/acme/web/events/{EVENT_ID}/",
            sentry_example("/api/0/projects/{organization_id_or_slug}/{project_id_or_slug}/events/{event_id}/"),
            {},
        ),
    ]


# --- the fixtures themselves follow the contracts -----------------------------------------------


@pytest.mark.parametrize(("method", "path", "status", "body"), LD_FIXTURES, ids=lambda v: str(v)[:40])
def test_launchdarkly_fixtures_match_the_response_schemas(method: str, path: str, status: int, body: Any) -> None:
    validate_response("launchdarkly", method, path, status, body)


def test_sentry_fixtures_match_the_response_schemas() -> None:
    for path, body, _ in sentry_fixtures():
        if ("GET", path) not in SENTRY_OUTSIDE_SPEC:
            validate_response("sentry", "GET", path, 200, body)


# --- every client request -----------------------------------------------------------------------


def capture_launchdarkly(action: Callable[[LaunchDarklyClient], Awaitable[Any]]) -> list[httpx.Request]:
    with respx.mock(base_url=LD_BASE, assert_all_called=False) as router:
        for method, path, status, body in LD_FIXTURES:
            router.route(method=method, path=path).respond(status, json=body)

        async def go() -> None:
            async with LaunchDarklyClient("api-test-token", options=FakeTime().options()) as ld:
                await action(ld)

        asyncio.run(go())
        return [call.request for call in router.calls]


def capture_sentry(action: Callable[[SentryClient], Awaitable[Any]]) -> list[httpx.Request]:
    with respx.mock(base_url=SENTRY_BASE, assert_all_called=False) as router:
        for path, body, headers in sentry_fixtures():
            router.get(path).respond(200, json=body, headers=headers)

        async def go() -> None:
            options = FakeTime().options()
            async with SentryClient("sntryu_test", "acme", options=options, event_detail_rate=None) as sentry:
                await action(sentry)

        asyncio.run(go())
        return [call.request for call in router.calls]


BINARY = metric_post_body(MetricSettings())
COUNT = metric_post_body(MetricSettings(key="errors-count", kind=MetricKind.COUNT, units=("request",)))

LD_ACTIONS: dict[str, tuple[Callable[[LaunchDarklyClient], Awaitable[Any]], list[str]]] = {
    "get_project": (lambda ld: ld.get_project("default"), ["getProject", "getEnvironmentsByProject"]),
    "get_projects": (lambda ld: ld.get_projects(["default", "other"]), ["getProjects"]),
    "list_event_metrics": (lambda ld: ld.list_event_metrics("default", "sentry-errors"), ["getMetrics"]),
    "experiment_units": (lambda ld: ld.experiment_units("default"), ["getExperimentationSettings"]),
    "list_projects": (lambda ld: ld.list_projects(), ["getProjects"]),
    "list_metrics": (lambda ld: ld.list_metrics("default"), ["getMetrics"]),
    "list_metrics_custom": (lambda ld: ld.list_metrics("default", custom_only=True), ["getMetrics"]),
    "get_metric": (lambda ld: ld.get_metric("default", "sentry-errors"), ["getMetric"]),
    "create_metric_binary": (lambda ld: ld.create_metric("default", BINARY), ["postMetric"]),
    "create_metric_count": (lambda ld: ld.create_metric("default", COUNT), ["postMetric"]),
    "caller_identity": (lambda ld: ld.caller_identity(), ["getCallerIdentity"]),
}


@pytest.mark.parametrize("name", sorted(LD_ACTIONS))
def test_launchdarkly_requests_match_the_contract(name: str) -> None:
    action, operations = LD_ACTIONS[name]
    requests = capture_launchdarkly(action)
    assert [op.operation_id for op in validate_all("launchdarkly", requests)] == operations


def test_metric_list_requests_never_ask_for_more_than_50() -> None:
    (request,) = capture_launchdarkly(lambda ld: ld.list_metrics("default"))
    assert int(request.url.params["limit"]) <= 50


SENTRY_ACTIONS: dict[str, tuple[Callable[[SentryClient], Awaitable[Any]], list[str]]] = {
    "auth_info": (lambda s: s.auth_info(), []),  # only the allowlisted API root
    "list_projects": (lambda s: s.list_projects(), ["listOrganizationProjects"]),
    "list_environments": (lambda s: s.list_environments("web"), ["listProjectEnvironments"]),
    "hidden_environment_names": (lambda s: s.hidden_environment_names(), ["listOrganizationEnvironments"]),
    "list_error_event_ids": (
        lambda s: s.list_error_event_ids("web", "production", "24h", 5),
        ["listOrganizationProjects", "listOrganizationEvents"],
    ),
    "get_event": (lambda s: s.get_event("web", EVENT_ID), ["getProjectEvent"]),
}


@pytest.mark.parametrize("name", sorted(SENTRY_ACTIONS))
def test_sentry_requests_match_the_contract(name: str) -> None:
    action, operations = SENTRY_ACTIONS[name]
    requests = capture_sentry(action)
    assert requests, "the action sent no request"
    validated = validate_all("sentry", requests, allow=SENTRY_OUTSIDE_SPEC)
    assert [op.operation_id for op in validated] == operations


def test_the_allowlisted_sentry_root_is_really_outside_the_document() -> None:
    with pytest.raises(ContractError, match=r"^sentry: no path template matches '/api/0/'$"):
        match_operation("sentry", "GET", "/api/0/")


def closed_schema(name: str) -> dict[str, Any]:
    """A schema of the trimmed contract (overlay fields included) that refuses any field it does not name.

    MetricPost declares no `additionalProperties: false`, so the document alone would accept a
    misspelled field; the overlay (tests/contracts/overlay.json) types the newer ones.
    """
    schema = copy.deepcopy(load_spec("launchdarkly")["components"]["schemas"][name])
    schema["additionalProperties"] = False
    return schema


@pytest.mark.parametrize(
    "body",
    [BINARY, COUNT, with_randomization_units(BINARY)],
    ids=["binary", "count", "older-instance-retry"],
)
def test_metric_post_bodies_match_metric_post(body: dict[str, Any]) -> None:
    validate_schema("launchdarkly", closed_schema("MetricPost"), body, "MetricPost")
    validate_request("launchdarkly", "POST", "/api/v2/metrics/default", body=body)


def test_the_closed_schema_refuses_unknown_and_mistyped_fields() -> None:
    with pytest.raises(ContractError, match=r"'analysisUnit' was unexpected"):
        validate_schema("launchdarkly", closed_schema("MetricPost"), {**BINARY, "analysisUnit": ["user"]}, "x")
    with pytest.raises(ContractError, match=r"'user' is not of type 'array' at analysisUnits"):
        validate_schema("launchdarkly", closed_schema("MetricPost"), {**BINARY, "analysisUnits": "user"}, "x")


def test_filtered_reads_send_the_documented_filters() -> None:
    (projects,) = capture_launchdarkly(lambda ld: ld.get_projects(["default", "other"]))
    assert dict(projects.url.params) == {
        "filter": "keys:default|other",
        "expand": "environments",
        "limit": "20",
        "offset": "0",
    }
    (metrics,) = capture_launchdarkly(lambda ld: ld.list_event_metrics("default", "sentry-errors"))
    # httpx writes the spaces as `+`, which a query string reads as the documented `%20`.
    assert metrics.url.params["filter"] == 'eventKeys anyOf ["sentry-errors"]'
    assert "filter=eventKeys+anyOf+%5B%22sentry-errors%22%5D&" in str(metrics.url)


# --- the helper can fail ------------------------------------------------------------------------


def test_helper_rejects_undeclared_and_missing_query_parameters() -> None:
    with pytest.raises(ContractError, match=r"query parameter 'page' is not declared"):
        validate_request("launchdarkly", "GET", "/api/v2/metrics/default", {"page": "2"})
    with pytest.raises(ContractError, match=r"required query parameters missing: \['dataset'\]"):
        validate_request("sentry", "GET", "/api/0/organizations/acme/events/", [("field", "id")])
    with pytest.raises(ContractError, match=r"query parameter 'limit': 'many' is not of type 'integer'"):
        validate_request("launchdarkly", "GET", "/api/v2/metrics/default", {"limit": "many"})
    with pytest.raises(ContractError, match=r"query parameter 'visibility': 'some' is not one of"):
        validate_request("sentry", "GET", "/api/0/projects/acme/web/environments/", {"visibility": "some"})


def test_helper_rejects_bad_bodies_paths_and_methods() -> None:
    with pytest.raises(ContractError, match=r"request body: 'key' is a required property"):
        validate_request("launchdarkly", "POST", "/api/v2/metrics/default", body={"kind": "custom"})
    with pytest.raises(
        ContractError, match=r"request body: 'gauge' is not one of \['pageview', 'click', 'custom', 'trace'\]"
    ):
        validate_request("launchdarkly", "POST", "/api/v2/metrics/default", body={"key": "k", "kind": "gauge"})
    with pytest.raises(ContractError, match=r"a request body is required"):
        validate_request("launchdarkly", "POST", "/api/v2/metrics/default")
    with pytest.raises(ContractError, match=r"sends a body but the operation declares none"):
        validate_request("launchdarkly", "GET", "/api/v2/caller-identity", body={})
    with pytest.raises(ContractError, match=r"path parameter 'event_id': 'nope' does not match"):
        validate_request("sentry", "GET", "/api/0/projects/acme/web/events/nope/")
    with pytest.raises(ContractError, match=r"^launchdarkly: PUT is not an operation of /api/v2/caller-identity$"):
        match_operation("launchdarkly", "PUT", "/api/v2/caller-identity")
    with pytest.raises(ContractError, match=r"no path template matches '/api/v3/flags'"):
        match_operation("launchdarkly", "GET", "/api/v3/flags")


def test_helper_prefers_literal_templates_and_decodes_path_values() -> None:
    op = match_operation("launchdarkly", "GET", "/api/v2/projects/a%2Fb/environments")
    assert op.template == "/api/v2/projects/{projectKey}/environments"
    assert op.path_values == {"projectKey": "a/b"}


def test_helper_validates_responses_with_refs_and_nullable() -> None:
    with pytest.raises(ContractError, match=r"response 200: '_id' is a required property at items/0"):
        validate_response(
            "launchdarkly", "GET", "/api/v2/metrics/default", 200, {"items": [{"key": "k"}], "_links": {}}
        )
    with pytest.raises(ContractError, match=r"status 418 is not declared"):
        validate_response("launchdarkly", "GET", "/api/v2/caller-identity", 418, {})
    env = [{"id": "1", "name": "prod", "isHidden": False}]
    validate_response("sentry", "GET", "/api/0/projects/acme/web/environments/", 200, env)
    with pytest.raises(ContractError, match=r"None is not of type 'string' at 0/name"):
        validate_response("sentry", "GET", "/api/0/projects/acme/web/environments/", 200, [{**env[0], "name": None}])
    # `nullable: true` accepts null; the same schema without it does not.
    assert json_schema({"type": "string", "nullable": True}) == {"anyOf": [{"type": "null"}, {"type": "string"}]}
    event = sentry_example("/api/0/projects/{organization_id_or_slug}/{project_id_or_slug}/events/{event_id}/")
    event["groupID"] = None
    validate_response("sentry", "GET", f"/api/0/projects/acme/web/events/{EVENT_ID}/", 200, event)
    event["projectID"] = None
    with pytest.raises(ContractError, match=r"None is not of type 'string' at projectID"):
        validate_response("sentry", "GET", f"/api/0/projects/acme/web/events/{EVENT_ID}/", 200, event)
    # A status without a declared body (Sentry's 404) accepts anything.
    validate_response("sentry", "GET", f"/api/0/projects/acme/web/events/{EVENT_ID}/", 404, {"detail": "x"})


def test_json_schema_translation_keeps_property_names_that_look_like_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {"example": {"type": "string", "example": "x"}, "nullable": {"$ref": "#/components/schemas/X"}},
        "allOf": [{"nullable": True, "$ref": "#/components/schemas/Y"}],
    }
    assert json_schema(schema) == {
        "type": "object",
        "properties": {"example": {"type": "string"}, "nullable": {"$ref": "#/definitions/X"}},
        "allOf": [{"anyOf": [{"type": "null"}, {"$ref": "#/definitions/Y"}]}],
    }
