"""The Sentry routes: bearer auth and scopes, Link pagination, environments, events and windows."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sandbox_helpers import SENTRY_HEADERS, SENTRY_TOKEN, in_process_client

from ld_sentry_cli.sandbox import Sandbox, build_app
from ld_sentry_cli.sandbox.scenario import Scenario
from ld_sentry_cli.sandbox.scenario_parser import scenario_from_dict

LINK = re.compile(
    r'<(?P<url>[^>]*)>; rel="(?P<rel>\w+)"; results="(?P<results>true|false)"; cursor="(?P<cursor>[^"]*)"'
)

EVENTS = "/api/0/organizations/acme/events/"


def links(response: httpx.Response) -> dict[str, dict[str, str]]:
    """The Link header, by rel."""
    found = {m["rel"]: m.groupdict() for m in LINK.finditer(response.headers["Link"])}
    assert set(found) == {"previous", "next"}, response.headers["Link"]  # always both (Sentry notes §5)
    return found


def test_api_root_reports_the_token_scopes(client: httpx.Client) -> None:
    body = client.get("/api/0/", headers=SENTRY_HEADERS).json()
    assert body == {"version": "0", "auth": {"scopes": ["org:read", "project:read", "event:read"]}, "user": None}
    assert client.get("/api/0/").json()["auth"] is None
    assert client.get("/api/0/", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "Authentication credentials were not provided."),
        (f"Token {SENTRY_TOKEN}", "Invalid token"),
        ("Bearer wrong", "Invalid token"),
        (SENTRY_TOKEN, "Invalid token"),
    ],
)
def test_bearer_auth(client: httpx.Client, authorization: str | None, detail: str) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/api/0/organizations/acme/projects/", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": detail}


def test_scopes_are_checked_per_operation(client: httpx.Client) -> None:
    org_only = {"Authorization": "Bearer sentry-org-only"}
    assert client.get("/api/0/organizations/acme/projects/", headers=org_only).status_code == 200
    denied = client.get("/api/0/projects/acme/web/", headers=org_only)
    assert denied.status_code == 403
    assert denied.json() == {"detail": "You do not have permission to perform this action."}
    ci = {"Authorization": "Bearer sentry-ci"}  # an org token: org:ci only (Sentry notes §1)
    assert client.get("/api/0/organizations/acme/projects/", headers=ci).status_code == 403
    assert client.get(EVENTS, params={"dataset": "errors", "field": "id"}, headers=ci).status_code == 403


def test_project_list_pages_with_link_headers(demo_client: httpx.Client) -> None:
    first = demo_client.get("/api/0/organizations/acme/projects/", headers=SENTRY_HEADERS)
    assert len(first.json()) == 10  # the scenario's small default page
    first_links = links(first)
    assert first_links["previous"]["results"] == "false"
    assert first_links["next"]["results"] == "true"
    assert first_links["next"]["url"].endswith(f"?&cursor={first_links['next']['cursor']}")
    second = demo_client.get(first_links["next"]["url"], headers=SENTRY_HEADERS)
    slugs = [p["slug"] for p in first.json() + second.json()]
    assert len(slugs) == 12 and slugs == sorted(slugs)
    second_links = links(second)
    assert second_links["next"]["results"] == "false" and second_links["previous"]["results"] == "true"
    back = demo_client.get(second_links["previous"]["url"], headers=SENTRY_HEADERS)
    assert [p["slug"] for p in back.json()] == slugs[:10]


def test_project_list_per_page_query_and_errors(demo_client: httpx.Client) -> None:
    everything = demo_client.get("/api/0/organizations/acme/projects/?per_page=100", headers=SENTRY_HEADERS)
    assert len(everything.json()) == 12 and links(everything)["next"]["results"] == "false"
    project = next(p for p in everything.json() if p["slug"] == "web-frontend")
    # Hidden environments are left out, as Sentry's ProjectSummarySerializer does (qa is hidden).
    assert project["id"] == "4505278496" and project["environments"] == ["production", "staging"]
    found = demo_client.get("/api/0/organizations/acme/projects/?query=checkout", headers=SENTRY_HEADERS)
    assert [p["slug"] for p in found.json()] == ["checkout-api", "checkout-web"]
    for bad in ("per_page=101", "per_page=x", "cursor=nonsense"):
        response = demo_client.get(f"/api/0/organizations/acme/projects/?{bad}", headers=SENTRY_HEADERS)
        assert response.status_code == 400, bad
    assert demo_client.get("/api/0/organizations/other/projects/", headers=SENTRY_HEADERS).status_code == 404


def test_get_project_by_slug_or_id(demo_client: httpx.Client) -> None:
    by_slug = demo_client.get("/api/0/projects/acme/checkout-api/", headers=SENTRY_HEADERS).json()
    by_id = demo_client.get("/api/0/projects/1/4505278501/", headers=SENTRY_HEADERS).json()
    assert by_slug["id"] == by_id["id"] == "4505278501"
    assert by_slug["organization"]["slug"] == "acme"
    assert demo_client.get("/api/0/projects/acme/nope/", headers=SENTRY_HEADERS).status_code == 404
    assert demo_client.get("/api/0/projects/acme/checkout-api", headers=SENTRY_HEADERS).status_code == 404


def test_project_environments_visibility(client: httpx.Client) -> None:
    def names(visibility: str | None) -> list[tuple[str, bool]]:
        params = {} if visibility is None else {"visibility": visibility}
        body = client.get("/api/0/projects/acme/web/environments/", params=params, headers=SENTRY_HEADERS).json()
        return [(e["name"], e["isHidden"]) for e in body]

    assert names(None) == [("production", False), ("staging", False)]  # default: visible
    assert names("visible") == names(None)
    assert names("hidden") == [("qa", True)]
    assert names("all") == [("production", False), ("staging", False), ("qa", True)]
    bad = client.get("/api/0/projects/acme/web/environments/?visibility=some", headers=SENTRY_HEADERS)
    assert bad.status_code == 400


def test_organization_environments(client: httpx.Client) -> None:
    body = client.get("/api/0/organizations/acme/environments/?visibility=all", headers=SENTRY_HEADERS).json()
    assert [e["name"] for e in body] == ["production", "staging", "qa"]
    hidden = client.get("/api/0/organizations/acme/environments/?visibility=hidden", headers=SENTRY_HEADERS).json()
    assert [e["name"] for e in hidden] == ["qa"]


def test_organization_environments_filter_per_project_link() -> None:
    # "shared" is visible in one project and hidden in another: Sentry lists it under both filters.
    scenario = scenario_from_dict(
        {
            "sentry": {
                "tokens": [{"value": "sentry-token"}],
                "projects": [
                    {"slug": "a", "id": 1, "environments": ["shared", "prod"]},
                    {"slug": "b", "id": 2, "environments": ["prod"], "hidden_environments": ["shared", "qa"]},
                ],
            }
        }
    )
    headers = {"Authorization": "Bearer sentry-token"}
    with in_process_client(build_app(scenario)) as unit:

        def names(visibility: str) -> list[str]:
            url = f"/api/0/organizations/acme/environments/?visibility={visibility}"
            return [e["name"] for e in unit.get(url, headers=headers).json()]

        assert names("hidden") == ["shared", "qa"]
        assert names("visible") == ["shared", "prod"]
        assert names("all") == ["shared", "prod", "qa"]


def test_an_older_sentry_sends_project_summaries_without_environments() -> None:
    scenario = scenario_from_dict(
        {
            "sentry": {
                "older_instance": True,
                "tokens": [{"value": "sentry-token"}],
                "projects": [{"slug": "a", "id": 1, "environments": ["prod"]}],
            }
        }
    )
    # Not the contract-checking client: an older Sentry leaves out a field the current document requires.
    with in_process_client(build_app(scenario), checked=False) as unit:
        (summary,) = unit.get(
            "/api/0/organizations/acme/projects/", headers={"Authorization": "Bearer sentry-token"}
        ).json()
    assert "environments" not in summary and summary["slug"] == "a"


def query(client: httpx.Client, **params: Any) -> httpx.Response:
    base: dict[str, Any] = {"dataset": "errors", "field": ["id", "timestamp"], "sort": "-timestamp"}
    return client.get(EVENTS, params={**base, **params}, headers=SENTRY_HEADERS)


def test_events_query_filters_by_project_environment_and_period(client: httpx.Client) -> None:
    recent = query(client, project="11", environment="production", statsPeriod="24h").json()
    assert len(recent["data"]) == 4  # three "30m" + one "3h"; the "2d" one is outside
    assert recent["meta"]["fields"] == {"id": "string", "timestamp": "date"}
    assert len(query(client, project="11", environment="production", statsPeriod="7d").json()["data"]) == 5
    assert len(query(client, project="11", environment="production", statsPeriod="2h").json()["data"]) == 3
    assert len(query(client, project="11", environment="production", statsPeriod="45m").json()["data"]) == 3
    assert len(query(client, project="11", environment="production", statsPeriod="10m").json()["data"]) == 0
    assert len(query(client, project="11", statsPeriod="24h").json()["data"]) == 5  # staging too
    assert len(query(client, project="web", statsPeriod="24h").json()["data"]) == 5  # slugs work as well
    assert query(client, project="12", statsPeriod="24h").json()["data"] == []


def test_events_are_newest_first_and_page_with_cursors(client: httpx.Client) -> None:
    first = query(client, project="11", environment="production", statsPeriod="7d", per_page=2)
    rows = first.json()["data"]
    assert [r["timestamp"] for r in rows] == sorted((r["timestamp"] for r in rows), reverse=True)
    seen, response = [], first
    while True:
        seen += [r["id"] for r in response.json()["data"]]
        following = links(response)["next"]
        if following["results"] == "false":
            break
        assert following["cursor"].startswith("0:")  # GenericOffsetPaginator cursors
        response = client.get(following["url"], headers=SENTRY_HEADERS)
    assert len(seen) == len(set(seen)) == 5


def test_events_query_errors(client: httpx.Client) -> None:
    unknown_env = query(client, environment="nowhere")
    assert unknown_env.status_code == 404  # ResourceDoesNotExist (Sentry notes §3)
    assert query(client, environment="qa").status_code == 200  # hidden, but it exists
    assert query(client, project="999").status_code == 403
    assert query(client, statsPeriod="yesterday").status_code == 400
    assert query(client, sort="-title").status_code == 400  # sort must be a selected field
    assert query(client, per_page=500).status_code == 400
    assert client.get(EVENTS, params={"dataset": "errors"}, headers=SENTRY_HEADERS).status_code == 400
    assert client.get(EVENTS, params={"field": "id"}, headers=SENTRY_HEADERS).status_code == 400
    assert query(client, dataset="spans").status_code == 400
    assert query(client, cursor="0:-5:0").status_code == 400


def test_events_query_fields_and_search(client: httpx.Client) -> None:
    rows = query(
        client,
        field=["id", "timestamp", "environment", "project.id", "project", "level", "tags[environment]"],
        statsPeriod="24h",
        query="environment:staging",
    ).json()["data"]
    assert rows == [
        {
            "id": "0123456789abcdef0123456789abcdef",
            "timestamp": rows[0]["timestamp"],
            "environment": "staging",
            "project.id": 11,
            "project": "web",
            "level": "error",
            "tags[environment]": "staging",
        }
    ]
    assert len(query(client, statsPeriod="24h", query="!environment:staging").json()["data"]) == 4


def test_event_detail_has_the_full_shape(demo: Sandbox, demo_client: httpx.Client) -> None:
    rows = query(demo_client, project="4505278496", environment="production", statsPeriod="24h", per_page=100)
    details = [
        demo_client.get(f"/api/0/projects/acme/web-frontend/events/{row['id']}/", headers=SENTRY_HEADERS).json()
        for row in rows.json()["data"]
    ]
    first = details[0]
    assert first["type"] == "error" and first["id"] == first["eventID"] == rows.json()["data"][0]["id"]
    assert first["projectID"] == "4505278496" and first["groupID"]
    assert {"key": "environment", "value": "production"} in first["tags"]
    assert first["dateCreated"].endswith("Z") and first["dateReceived"] > first["dateCreated"]
    assert first["entries"][0]["type"] == "exception"
    contexts = [d["contexts"] for d in details]
    ld = [c["launchdarklyContext"] for c in contexts if "launchdarklyContext" in c]
    # Sentry adds its own "type" member to custom contexts (Sentry notes §4.1).
    assert all(c["type"] == "default" for c in ld)
    assert any(c["kind"] == "multi" and c["user"] == {"key": "user-2001"} for c in ld)
    assert any(c["launchDarklyContext"]["type"] == "default" for c in contexts if "launchDarklyContext" in c)
    assert any(c.get("browser", {}).get("type") == "browser" for c in contexts)
    scrubbed = next(d for d in details if d["contexts"].get("launchdarklyContext", {}).get("key") == "[Filtered]")
    assert scrubbed["_meta"]["contexts"]["launchdarklyContext"]["key"][""]["rem"]
    assert scrubbed["user"]["email"] == "pat@example.com"
    assert any("launchdarklyContext" not in c for c in contexts)


def test_event_detail_next_previous_and_errors(client: httpx.Client) -> None:
    staged = client.get("/api/0/projects/acme/web/events/0123456789abcdef0123456789abcdef/", headers=SENTRY_HEADERS)
    body = staged.json()
    assert body["nextEventID"] and body["previousEventID"]  # neighbours across environments
    scoped = client.get(
        "/api/0/projects/acme/web/events/0123456789abcdef0123456789abcdef/?environment=staging",
        headers=SENTRY_HEADERS,
    ).json()
    assert scoped["nextEventID"] is None and scoped["previousEventID"] is None
    other_project = client.get(
        "/api/0/projects/acme/api/events/0123456789abcdef0123456789abcdef/", headers=SENTRY_HEADERS
    )
    assert other_project.status_code == 404 and other_project.json() == {"detail": "Event not found"}
    assert client.get("/api/0/projects/acme/web/events/" + "f" * 32 + "/", headers=SENTRY_HEADERS).status_code == 404


def test_project_event_list_simple_and_full(client: httpx.Client) -> None:
    simple = client.get("/api/0/projects/acme/web/events/?statsPeriod=24h", headers=SENTRY_HEADERS)
    assert len(simple.json()) == 5 and "contexts" not in simple.json()[0]
    full = client.get("/api/0/projects/acme/web/events/?statsPeriod=24h&full=true&per_page=2", headers=SENTRY_HEADERS)
    assert len(full.json()) == 2 and full.json()[0]["contexts"]["launchdarklyContext"]["type"] == "default"
    assert links(full)["next"]["results"] == "true"
    everything = client.get("/api/0/projects/acme/web/events/", headers=SENTRY_HEADERS)
    assert len(everything.json()) == 6  # default window covers the 2-day-old event
    assert client.get("/api/0/projects/acme/web/events/?cursor=x", headers=SENTRY_HEADERS).status_code == 400
    before_the_first = client.get("/api/0/projects/acme/web/events/?cursor=0:-5:0", headers=SENTRY_HEADERS)
    assert before_the_first.status_code == 400
    assert before_the_first.json() == {"detail": "Pagination offset cannot be negative"}


def test_contexts_are_shaped_like_sentry_serialises_them() -> None:
    sandbox = build_app(
        {
            "sentry": {
                "tokens": [{"value": SENTRY_TOKEN}],
                "projects": [
                    {
                        "slug": "p",
                        "id": 1,
                        "environments": ["production"],
                        "events": [
                            {
                                "age": "1m",
                                "environment": "production",
                                "id": "a" * 32,
                                "contexts": {
                                    "launchdarklyContext": {
                                        "kind": "user",
                                        "key": "u",
                                        "accountNumber": 12345678901234567,
                                    },
                                    "sneaky": {"type": "os", "name": "Linux"},
                                    "odd": {"type": "banana", "key": "k"},
                                },
                            }
                        ],
                    }
                ],
            }
        }
    )
    contexts = sandbox.state.sentry.events["a" * 32].contexts
    assert contexts["launchdarklyContext"]["accountNumber"] == "12345678901234567"  # > 15 digits
    assert contexts["sneaky"]["type"] == "os"
    assert contexts["odd"]["type"] == "default"


def test_sentry_rate_limit_headers(client: httpx.Client) -> None:
    response = client.get("/api/0/organizations/acme/projects/", headers=SENTRY_HEADERS)
    headers = response.headers
    assert int(headers["X-Sentry-Rate-Limit-Limit"]) > int(headers["X-Sentry-Rate-Limit-Remaining"]) >= 0
    reset = int(headers["X-Sentry-Rate-Limit-Reset"])
    assert abs(reset - datetime.now(timezone.utc).timestamp()) < 120  # epoch seconds
    assert int(headers["X-Sentry-Rate-Limit-ConcurrentRemaining"]) < int(headers["X-Sentry-Rate-Limit-ConcurrentLimit"])


def test_a_pinned_now_makes_event_times_deterministic(unit_scenario: Scenario) -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    sandbox = build_app(unit_scenario, now=now)
    event = sandbox.state.sentry.events["0123456789abcdef0123456789abcdef"]
    assert event.timestamp == now - timedelta(hours=1)


def test_events_query_start_end_and_bare_second_periods(unit_scenario: Scenario) -> None:

    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    with in_process_client(build_app(unit_scenario, now=now)) as client:
        window = {"start": "2026-01-01T10:30:00.0000", "end": "2026-01-01T11:45:00Z"}
        assert len(query(client, **window).json()["data"]) == 4  # the three "30m" events and the "1h" one
        assert len(query(client, statsPeriod="3600").json()["data"]) == 4  # bare number: seconds
        assert query(client, start="2026-01-01T10:00:00").status_code == 400  # start without end
