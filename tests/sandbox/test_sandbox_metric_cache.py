"""Metrics are served from cached, pre-serialised MetricReps: byte-identical to a fresh rendering, never stale."""

from __future__ import annotations

from typing import Any

import httpx
from sandbox_helpers import LD_HEADERS, in_process_client
from starlette.responses import JSONResponse

from ld_sentry_cli.sandbox import FaultPlan, FaultRule, Sandbox, build_app
from ld_sentry_cli.sandbox.faults import FaultDecision, FaultInjector, FaultKind
from ld_sentry_cli.sandbox.ld_payloads import metric_rep
from ld_sentry_cli.sandbox.scenario import Scenario

NEW_METRIC = {"key": "sentry-errors", "kind": "custom", "eventKey": "sentry-errors", "tags": ["sentry"]}


def rendered(value: Any) -> bytes:
    """The body Starlette's JSONResponse sends for a value: what every response was before the cache."""
    return bytes(JSONResponse(value).body)


def all_keys(client: httpx.Client, project: str) -> tuple[list[str], int]:
    """Every metric key of a project, paging at 50, and the totalCount of the last page."""
    keys: list[str] = []
    href: str | None = f"/api/v2/metrics/{project}?limit=50"
    total = -1
    while href:
        body = client.get(href, headers=LD_HEADERS).json()
        keys += [item["key"] for item in body["items"]]
        total = body["totalCount"]
        href = body["_links"].get("next", {}).get("href")
    return keys, total


def assert_same_as_fresh_rendering(sandbox: Sandbox, project_key: str, response: httpx.Response) -> None:
    """The page equals JSONResponse's rendering of the same page built from the records, byte for byte."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    project = sandbox.state.ld.projects[project_key]
    page = response.json()
    expected = {
        "items": [metric_rep(project, project.metrics[item["key"]]) for item in page["items"]],
        "_links": page["_links"],
        "totalCount": page["totalCount"],
    }
    assert response.content == rendered(expected)


def test_metric_pages_are_byte_identical_to_a_fresh_rendering(demo: Sandbox, demo_client: httpx.Client) -> None:
    # Non-ASCII and escaped characters, and floats only json.dumps writes as LaunchDarkly's
    # JSON does (1e+16), in a metric created through the API.
    odd = {
        "key": "naïve-\u2028-metric",
        "name": 'Quote " and backslash \\ and tab \t',
        "kind": "pageview",
        "urls": [{"kind": "exact", "url": "https://example.com/é", "weight": 1e16, "ratio": 0.1}],
    }
    created = demo_client.post("/api/v2/metrics/checkout", headers=LD_HEADERS, json=odd)
    assert created.status_code == 201
    record = demo.state.ld.projects["checkout"].metrics[odd["key"]]
    assert created.content == rendered(metric_rep(demo.state.ld.projects["checkout"], record))
    assert b"1e+16" in created.content
    queries: list[dict[str, str | int]] = [
        {},
        {"limit": 50, "offset": 0},
        {"limit": 50, "offset": 100},
        {"limit": 7, "offset": 3, "filter": "eventKind equals custom", "sort": "-name"},
        {"filter": 'tags contains ["growth"]', "sort": "createdAt"},
    ]
    for project_key in demo.state.ld.projects:
        for params in queries:
            for _ in range(2):  # the first request fills the cache, the second reads it
                response = demo_client.get(f"/api/v2/metrics/{project_key}", params=params, headers=LD_HEADERS)
                assert_same_as_fresh_rendering(demo, project_key, response)
        for key, record in demo.state.ld.projects[project_key].metrics.items():
            single = demo_client.get(f"/api/v2/metrics/{project_key}/{key}", headers=LD_HEADERS)
            assert single.content == rendered(metric_rep(demo.state.ld.projects[project_key], record))


def test_a_created_metric_appears_in_the_next_list_response(demo: Sandbox, demo_client: httpx.Client) -> None:
    before, total = all_keys(demo_client, "default")  # fills the cache for every listed metric
    assert "sentry-errors" not in before and total == len(before)
    assert demo_client.post("/api/v2/metrics/default", headers=LD_HEADERS, json=NEW_METRIC).status_code == 201
    after, total = all_keys(demo_client, "default")
    assert after == [*before, "sentry-errors"] and total == len(before) + 1
    found = demo_client.get(
        "/api/v2/metrics/default", params={"filter": 'eventKeys anyOf ["sentry-errors"]'}, headers=LD_HEADERS
    ).json()
    assert [item["key"] for item in found["items"]] == ["sentry-errors"]


def test_an_archived_or_edited_metric_is_not_served_stale(demo: Sandbox, demo_client: httpx.Client) -> None:
    def listed(key: str) -> dict[str, Any]:
        body = demo_client.get("/api/v2/metrics/checkout", params={"limit": 50, "offset": 100}, headers=LD_HEADERS)
        return next(item for item in body.json()["items"] if item["key"] == key)

    assert listed("sentry-errors")["archived"] is False
    # What an archive or an update does to the stored record (LaunchDarkly bumps _version on every change).
    record = demo.state.ld.projects["checkout"].metrics["sentry-errors"]
    record.archived, record.archived_at_ms = True, record.created_ms + 1
    archived = listed("sentry-errors")
    assert archived["archived"] is True and archived["archivedAt"] == record.created_ms + 1
    record.name, record.version = "Sentry errors (renamed)", record.version + 1
    renamed = listed("sentry-errors")
    assert renamed["name"] == "Sentry errors (renamed)" and renamed["_version"] == record.version


def test_a_reset_serves_the_new_world(demo_scenario: Scenario) -> None:
    sandbox = build_app(demo_scenario)  # "now" not pinned: a reset moves every metric date
    with in_process_client(sandbox) as client:
        all_keys(client, "checkout")
        assert client.post("/api/v2/metrics/checkout", headers=LD_HEADERS, json=NEW_METRIC | {"key": "new"}).is_success
        sandbox.reset()
        keys, total = all_keys(client, "checkout")
        assert "new" not in keys and total == 120
        page = client.get("/api/v2/metrics/checkout", params={"limit": 50}, headers=LD_HEADERS)
        assert_same_as_fresh_rendering(sandbox, "checkout", page)
        records = sandbox.state.ld.projects["checkout"].metrics
        assert [item["_creationDate"] for item in page.json()["items"]] == [
            records[item["key"]].created_ms for item in page.json()["items"]
        ]


def test_a_latency_only_rule_adds_its_delay_without_disturbing_seeded_faults() -> None:
    plan = FaultPlan(
        seed=5,
        default=FaultRule(latency_ms=40),
        routes=(FaultRule(prefix="/api/0/", latency_ms=10, latency_jitter_ms=5, rate_limited=0.5),),
    )
    sentry = [("GET", f"/api/0/projects/acme/p{i % 7}/") for i in range(60)]

    def sentry_decisions(interleave: bool) -> list[FaultDecision]:
        injector = FaultInjector(plan)
        decisions = []
        for method, path in sentry:
            if interleave:
                plain = injector.decide("GET", "/api/v2/projects/p", "expand=environments")
                assert plain == FaultDecision(delay_s=0.04, kind=FaultKind.NONE, status=None, reset_ms=1000)
            decisions.append(injector.decide(method, path, ""))
        return decisions

    alone = sentry_decisions(interleave=False)
    assert alone == sentry_decisions(interleave=True)
    assert {d.kind for d in alone} == {FaultKind.NONE, FaultKind.RATE_LIMITED}
    assert all(0.010 <= d.delay_s < 0.015 for d in alone)
    assert FaultInjector(FaultPlan()).decide("GET", "/api/v2/projects", "") == FaultDecision()
