"""The LaunchDarkly routes: auth, projects and environments, metrics (paging, filters, create)."""

from __future__ import annotations

import re

import httpx
import pytest
from sandbox_helpers import LD_HEADERS, in_process_client
from support import METRIC_POST_BODY

from ld_sentry_cli.sandbox import Sandbox, build_app
from ld_sentry_cli.sandbox.ld_world import LdEnvironmentState
from ld_sentry_cli.sandbox.scenario_parser import scenario_from_dict
from ld_sentry_cli.secrets import looks_like_credential


@pytest.mark.parametrize("authorization", [None, "wrong", "Bearer sandbox-ld-token", "sandbox-ld-token "])
def test_the_raw_token_must_match_exactly(client: httpx.Client, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/api/v2/projects", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.json()["message"] == "Invalid access token"


def test_forbidden_and_reader_tokens_get_403_where_their_role_stops(client: httpx.Client) -> None:
    forbidden = {"Authorization": "ld-forbidden"}
    for path in ("/api/v2/projects", "/api/v2/projects/alpha", "/api/v2/metrics/alpha"):
        response = client.get(path, headers=forbidden)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
    # Any valid token may ask who it is (getCallerIdentity has no 403).
    assert client.get("/api/v2/caller-identity", headers=forbidden).status_code == 200
    reader = {"Authorization": "ld-reader"}
    assert client.get("/api/v2/metrics/alpha", headers=reader).status_code == 200
    created = client.post("/api/v2/metrics/beta", headers=reader, json={"key": "m", "kind": "custom", "eventKey": "e"})
    assert created.status_code == 403


def test_caller_identity(client: httpx.Client) -> None:
    body = client.get("/api/v2/caller-identity", headers=LD_HEADERS).json()
    assert body["authKind"] == "token"
    assert body["tokenKind"] == "service" and body["serviceToken"] is True
    assert body["accountId"] and body["memberId"]


def test_an_unparseable_api_version_header_is_a_400(client: httpx.Client) -> None:
    response = client.get("/api/v2/projects", headers={**LD_HEADERS, "LD-API-Version": "latest"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert client.get("/api/v2/projects", headers={**LD_HEADERS, "LD-API-Version": "beta"}).status_code == 200


def test_projects_page_with_limit_offset_links_and_total(demo_client: httpx.Client) -> None:
    first = demo_client.get("/api/v2/projects", params={"limit": 2}, headers=LD_HEADERS).json()
    assert first["totalCount"] == 3
    assert [p["key"] for p in first["items"]] == ["default", "checkout"]
    assert set(first["_links"]) == {"self", "next", "last"}  # no first/prev on the first page
    assert "environments" not in first["items"][0]
    second = demo_client.get(first["_links"]["next"]["href"], headers=LD_HEADERS).json()
    assert [p["key"] for p in second["items"]] == ["mobile"]
    assert set(second["_links"]) == {"self", "first", "prev"}


def test_projects_filter_sort_and_expand(demo_client: httpx.Client) -> None:
    def keys(**params: str) -> list[str]:
        body = demo_client.get("/api/v2/projects", params=params, headers=LD_HEADERS).json()
        return [p["key"] for p in body["items"]]

    assert keys(filter="keys:mobile|default") == ["default", "mobile"]
    assert keys(filter="query:CHECK") == ["checkout"]
    assert keys(filter="tags:payments") == ["checkout"]
    assert keys(sort="-name") == ["mobile", "default", "checkout"]
    expanded = demo_client.get("/api/v2/projects", params={"expand": "environments"}, headers=LD_HEADERS).json()
    assert expanded["items"][0]["environments"]["totalCount"] == 2
    bad = demo_client.get("/api/v2/projects", params={"filter": "colour:red"}, headers=LD_HEADERS)
    assert bad.status_code == 400


def test_get_project_embeds_environments_only_when_expanded(demo_client: httpx.Client) -> None:
    plain = demo_client.get("/api/v2/projects/checkout", headers=LD_HEADERS).json()
    assert "environments" not in plain
    expanded = demo_client.get("/api/v2/projects/checkout?expand=environments", headers=LD_HEADERS).json()
    environments = expanded["environments"]
    assert environments["totalCount"] == 2
    assert [e["key"] for e in environments["items"]] == ["production", "staging"]
    assert demo_client.get("/api/v2/projects/nope", headers=LD_HEADERS).status_code == 404


def test_environments_carry_realistic_fake_sdk_and_mobile_keys(demo_client: httpx.Client) -> None:
    env = demo_client.get("/api/v2/projects/default/environments/production", headers=LD_HEADERS).json()
    uuid = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    assert re.fullmatch(f"sdk-{uuid}", env["apiKey"])
    assert re.fullmatch(f"mob-{uuid}", env["mobileKey"])
    # The shape the CLI's redaction recognises, so a leak would be caught (docs/design.md "Secrets").
    assert looks_like_credential(env["apiKey"]) and looks_like_credential(env["mobileKey"])
    assert env["key"] == "production" and env["critical"] is True


def test_embedded_environments_are_a_first_page(unit: Sandbox, client: httpx.Client) -> None:

    project = unit.state.ld.projects["beta"]
    for i in range(25):
        project.environments.append(
            LdEnvironmentState(f"env-{i}", f"Env {i}", f"id{i}", "sdk-x", "mob-x", "417505", False, ())
        )
    body = client.get("/api/v2/projects/beta?expand=environments", headers=LD_HEADERS).json()
    assert body["environments"]["totalCount"] == 26
    assert len(body["environments"]["items"]) == 20
    rest = client.get("/api/v2/projects/beta/environments?limit=20&offset=20", headers=LD_HEADERS).json()
    assert len(rest["items"]) == 6 and "next" not in rest["_links"]


def test_environment_lookups(demo_client: httpx.Client) -> None:
    listing = demo_client.get("/api/v2/projects/mobile/environments?limit=1", headers=LD_HEADERS).json()
    assert listing["totalCount"] == 2 and len(listing["items"]) == 1
    assert listing["_links"]["next"]["href"].endswith("limit=1&offset=1")
    missing_env = demo_client.get("/api/v2/projects/mobile/environments/qa", headers=LD_HEADERS)
    assert missing_env.status_code == 404 and missing_env.json()["code"] == "not_found"
    assert demo_client.get("/api/v2/projects/nope/environments", headers=LD_HEADERS).status_code == 404


def test_metrics_default_to_20_are_capped_at_50_and_page_to_the_good_metric(demo_client: httpx.Client) -> None:
    default = demo_client.get("/api/v2/metrics/checkout", headers=LD_HEADERS).json()
    assert default["totalCount"] == 120 and len(default["items"]) == 20
    pages, href = [], "/api/v2/metrics/checkout?limit=100"
    while href:
        body = demo_client.get(href, headers=LD_HEADERS).json()
        pages.append([m["key"] for m in body["items"]])
        href = body["_links"].get("next", {}).get("href")
    assert [len(p) for p in pages] == [50, 50, 20]
    assert pages[2][-1] == "sentry-errors"
    assert "limit=50&offset=100" in body["_links"]["self"]["href"]


def test_metric_filters(demo_client: httpx.Client) -> None:
    def keys(filter_: str) -> list[str]:
        body = demo_client.get("/api/v2/metrics/checkout", params={"filter": filter_, "limit": 50}, headers=LD_HEADERS)
        assert body.status_code == 200, body.text
        return [m["key"] for m in body.json()["items"]]

    conversions = keys("eventKind equals custom,isNumeric equals false")
    assert "sentry-errors" in conversions and "checkout-completed" in conversions
    numeric = keys("eventKind equals custom,isNumeric equals true")
    assert numeric and not set(numeric) & set(conversions)
    assert keys('eventKeys anyOf ["sentry-errors"]') == ["sentry-errors"]
    assert keys("query equals Sentry") == ["sentry-errors"]
    assert all(m.startswith("filler") for m in keys("eventKind equals pageview"))
    for bad in ("eventKind", "colour equals red", "isNumeric equals maybe"):
        response = demo_client.get("/api/v2/metrics/checkout", params={"filter": bad}, headers=LD_HEADERS)
        assert response.status_code == 400, bad


def test_archived_metrics_are_listed_and_marked(demo_client: httpx.Client) -> None:
    body = demo_client.get("/api/v2/metrics/mobile", headers=LD_HEADERS).json()
    old = next(m for m in body["items"] if m["key"] == "sentry-errors-old")
    assert old["archived"] is True and isinstance(old["archivedAt"], int)
    assert old["eventKey"] == "sentry-errors"
    assert demo_client.get("/api/v2/metrics/nope", headers=LD_HEADERS).status_code == 404


def test_get_metric_by_metric_key(demo_client: httpx.Client) -> None:
    metric = demo_client.get("/api/v2/metrics/checkout/sentry-errors", headers=LD_HEADERS).json()
    assert metric["kind"] == "custom" and metric["isNumeric"] is False
    assert metric["successCriteria"] == "LowerThanBaseline" and metric["unitAggregationType"] == "average"
    assert metric["lastSeen"] % 3_600_000 == 0  # one-hour fidelity
    assert demo_client.get("/api/v2/metrics/checkout/nope", headers=LD_HEADERS).status_code == 404


def test_create_metric_then_conflict(demo: Sandbox, demo_client: httpx.Client) -> None:
    created = demo_client.post("/api/v2/metrics/default", headers=LD_HEADERS, json=METRIC_POST_BODY)
    assert created.status_code == 201
    body = created.json()
    assert body["key"] == "sentry-errors" and body["eventKey"] == "sentry-errors" and body["tags"] == ["sentry"]
    assert "sentry-errors" in demo.metric_keys("default")
    fetched = demo_client.get("/api/v2/metrics/default/sentry-errors", headers=LD_HEADERS).json()
    assert fetched["_id"] == body["_id"]
    again = demo_client.post("/api/v2/metrics/default", headers=LD_HEADERS, json=METRIC_POST_BODY)
    assert again.status_code == 409 and again.json()["code"] == "optimistic_locking_error"


def test_the_archived_key_still_conflicts_but_a_new_key_does_not(demo_client: httpx.Client) -> None:
    clash = demo_client.post(
        "/api/v2/metrics/mobile", headers=LD_HEADERS, json={**METRIC_POST_BODY, "key": "sentry-errors-old"}
    )
    assert clash.status_code == 409
    assert demo_client.post("/api/v2/metrics/mobile", headers=LD_HEADERS, json=METRIC_POST_BODY).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "custom", "eventKey": "e"},
        {"key": "m"},
        {"key": "m", "kind": "custom"},
        {"key": "m", "kind": "custom", "eventKey": "e", "isNumeric": True},
        {"key": "m", "kind": "custom", "eventKey": "e", "successCriteria": "Sideways"},
        {"key": "m", "kind": "pageview"},
        {"key": "m", "kind": "custom", "eventKey": "e", "tags": "sentry"},
        ["not", "an", "object"],
    ],
)
def test_invalid_metric_bodies_are_400(demo_client: httpx.Client, body: object) -> None:
    response = demo_client.post("/api/v2/metrics/default", headers=LD_HEADERS, json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


def test_create_in_an_unknown_project_is_404_and_non_json_is_400(demo_client: httpx.Client) -> None:
    assert demo_client.post("/api/v2/metrics/nope", headers=LD_HEADERS, json=METRIC_POST_BODY).status_code == 404
    response = demo_client.post("/api/v2/metrics/default", headers=LD_HEADERS, content=b"{not json")
    assert response.status_code == 400


def test_analysis_units_are_accepted_for_the_v24_rename(demo_client: httpx.Client) -> None:
    body = {**METRIC_POST_BODY, "analysisUnits": ["request"]}
    created = demo_client.post("/api/v2/metrics/default", headers=LD_HEADERS, json=body).json()
    assert created["randomizationUnits"] == ["request"]


def test_rate_limit_headers_on_every_launchdarkly_response(client: httpx.Client) -> None:
    first = client.get("/api/v2/projects", headers=LD_HEADERS)
    second = client.get("/api/v2/projects", headers=LD_HEADERS)
    assert int(first.headers["X-Ratelimit-Global-Remaining"]) - 1 == int(second.headers["X-Ratelimit-Global-Remaining"])
    assert int(first.headers["X-Ratelimit-Route-Remaining"]) > int(second.headers["X-Ratelimit-Route-Remaining"])
    reset = int(second.headers["X-Ratelimit-Reset"])
    assert reset > 1_600_000_000_000  # epoch milliseconds
    assert "X-Ratelimit-Reset" in client.get("/api/v2/projects", headers={}).headers


def test_unknown_paths_and_methods_answer_in_launchdarkly_style(client: httpx.Client) -> None:
    missing = client.get("/api/v2/flags/alpha", headers=LD_HEADERS)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong_method = client.delete("/api/v2/projects/alpha", headers=LD_HEADERS)
    assert wrong_method.status_code == 405 and wrong_method.json()["code"] == "method_not_allowed"
    assert client.get("/api/v2/projects/", headers=LD_HEADERS).status_code == 404  # no slash redirects


# --- switches: filters honoured, ignored or refused; an instance older than analysisUnits --------------


def ld_scenario(*, new_enums: bool = False, **launchdarkly: object) -> Sandbox:
    metrics = [
        {"key": "sentry-errors", "event_key": "sentry-errors", "randomization_units": ["request"]},
        {"key": "warehouse", "event_key": "sentry-errors", "data_source": "snowflake", "data_source_environment": "p"},
    ]
    if new_enums:  # values the 2026-03 document's enums lack (launchdarkly-api.md §1.7)
        metrics.append(
            {"key": "traced", "kind": "trace", "event_key": "sentry-errors", "unit_aggregation_type": "count_distinct"}
        )
    return build_app(
        scenario_from_dict(
            {
                "launchdarkly": {
                    "tokens": [{"value": "ld-token"}],
                    "projects": [
                        {"key": "a", "filler_metrics": 3, "metrics": metrics, "experiment_units": ["user", "request"]},
                        {"key": "b"},
                    ],
                    **launchdarkly,
                }
            }
        )
    )


TOKEN = {"Authorization": "ld-token"}
EVENT_KEYS = "?filter=eventKeys%20anyOf%20%5B%22sentry-errors%22%5D"


@pytest.mark.parametrize(("behaviour", "expected"), [("honoured", ["a"]), ("ignored", ["a", "b"])])
def test_the_projects_keys_filter_honoured_or_ignored(behaviour: str, expected: list[str]) -> None:
    with in_process_client(ld_scenario(project_keys_filter=behaviour)) as unit:
        body = unit.get("/api/v2/projects?filter=keys:a|zzz", headers=TOKEN).json()
    assert [p["key"] for p in body["items"]] == expected


def test_the_projects_keys_filter_refused() -> None:
    with in_process_client(ld_scenario(project_keys_filter="rejected")) as unit:
        response = unit.get("/api/v2/projects?filter=keys:a", headers=TOKEN)
    assert response.status_code == 400
    assert response.json()["message"] == "Unsupported filter field 'keys': use query or tags"


@pytest.mark.parametrize(("behaviour", "count"), [("honoured", 2), ("ignored", 5)])
def test_the_event_keys_filter_honoured_or_ignored(behaviour: str, count: int) -> None:
    with in_process_client(ld_scenario(event_keys_filter=behaviour)) as unit:
        body = unit.get(f"/api/v2/metrics/a{EVENT_KEYS}", headers=TOKEN).json()
    assert body["totalCount"] == count


def test_the_event_keys_filter_refused_but_others_still_apply() -> None:
    with in_process_client(ld_scenario(event_keys_filter="rejected")) as unit:
        refused = unit.get(f"/api/v2/metrics/a{EVENT_KEYS}", headers=TOKEN)
        custom = unit.get("/api/v2/metrics/a?filter=eventKind%20equals%20custom", headers=TOKEN).json()
    assert refused.status_code == 400
    assert refused.json()["message"] == "Unsupported filter eventKeys anyOf"
    assert custom["totalCount"] == 3  # one filler is custom too


def test_metrics_carry_data_source_both_unit_names_and_new_enum_values() -> None:
    # Not the contract-checking client: `trace` and `count_distinct` are newer than the 2026-03 document.
    with in_process_client(ld_scenario(new_enums=True), checked=False) as unit:
        items = {m["key"]: m for m in unit.get(f"/api/v2/metrics/a{EVENT_KEYS}", headers=TOKEN).json()["items"]}
        settings = unit.get("/api/v2/projects/a/experimentation-settings", headers=TOKEN).json()
    assert items["sentry-errors"]["analysisUnits"] == items["sentry-errors"]["randomizationUnits"] == ["request"]
    assert items["sentry-errors"]["dataSource"] == {"key": "launchdarkly-hosted", "_name": "LaunchDarkly"}
    assert items["warehouse"]["dataSource"] == {"key": "snowflake", "_name": "Snowflake", "environmentKey": "p"}
    assert (items["traced"]["kind"], items["traced"]["unitAggregationType"]) == ("trace", "count_distinct")
    assert [u["randomizationUnit"] for u in settings["randomizationUnits"]] == ["user", "request"]


def test_an_older_instance_refuses_analysis_units_and_sends_only_the_old_name() -> None:
    body = {"key": "new", "kind": "custom", "eventKey": "sentry-errors", "isNumeric": False}
    with in_process_client(ld_scenario(older_instance=True)) as unit:
        refused = unit.post("/api/v2/metrics/a", json={**body, "analysisUnits": ["user"]}, headers=TOKEN)
        created = unit.post("/api/v2/metrics/a", json={**body, "randomizationUnits": ["user"]}, headers=TOKEN)
    assert refused.status_code == 400
    assert refused.json()["message"] == "Invalid field analysisUnits: unknown property"
    assert created.status_code == 201
    assert created.json()["randomizationUnits"] == ["user"] and "analysisUnits" not in created.json()
