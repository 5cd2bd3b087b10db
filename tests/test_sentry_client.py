"""SentryClient: bearer auth, token kinds, org/URL selection, Link pagination, events and pacing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest
import respx
from support import NOW, FakeTime

from ld_sentry_cli import __version__
from ld_sentry_cli.api_models import SentryAuth, SentryEnvironment, SentryEvent, SentryProject
from ld_sentry_cli.errors import ExitCode, MissingTokenError, NotFoundError, RateLimitedError, UsageError
from ld_sentry_cli.http import RetryPolicy
from ld_sentry_cli.sentry import (
    SentryClient,
    parse_iso_ms,
    sentry_base_url,
    sentry_organization,
    sentry_token,
)
from ld_sentry_cli.sentry_environments import settled_environments

T = TypeVar("T")
BASE = "https://sentry.io"
TOKEN = "sntryu_" + "ab" * 32
ORG_TOKEN = "sntrys_eyJpYXQiOjE3MDAwMDAwMDAsIm9yZyI6ImFjbWUifQ_SecretPart123"
EVENT_ID = "9999aaaaca8b46d797c23c6077c6ff01"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def client(fake: FakeTime | None = None, *, event_detail_rate: float | None = None) -> SentryClient:
    options = (fake or FakeTime()).options(retry=RetryPolicy(max_attempts=3))
    return SentryClient(TOKEN, "acme", base_url=BASE, options=options, event_detail_rate=event_detail_rate)


async def call(method: str, *args: Any, **kwargs: Any) -> Any:
    async with client() as sentry:
        return await getattr(sentry, method)(*args, **kwargs)


def link(cursor: str, results: bool) -> dict[str, str]:
    flag = "true" if results else "false"
    url = f"{BASE}/api/0/organizations/acme/projects/"
    return {
        "Link": f'<{url}?&cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", '
        f'<{url}?&cursor={cursor}>; rel="next"; results="{flag}"; cursor="{cursor}"'
    }


# --- configuration ------------------------------------------------------------------------------


def test_token_from_the_environment() -> None:
    assert sentry_token({"SENTRY_AUTH_TOKEN": f" {TOKEN}\n"}) == TOKEN
    with pytest.raises(MissingTokenError) as caught:
        sentry_token({})
    assert caught.value.message == "No Sentry auth token: set SENTRY_AUTH_TOKEN."
    assert caught.value.exit_code == ExitCode.USAGE


ORG_TOKEN_MESSAGE = (
    "SENTRY_AUTH_TOKEN is a Sentry organization token (sntrys_…), which only carries the org:ci scope; "
    "ldsentry cannot read projects, environments or events with it."
)
SCOPES_HINT = (
    "Create an internal integration (Settings → Developer Settings → Custom Integrations → Internal "
    "Integration) with org:read, project:read and event:read, and set SENTRY_AUTH_TOKEN to its token."
)


def test_organization_tokens_are_refused_from_the_environment() -> None:
    with pytest.raises(MissingTokenError) as caught:
        sentry_token({"SENTRY_AUTH_TOKEN": ORG_TOKEN})
    assert caught.value.message == ORG_TOKEN_MESSAGE
    assert caught.value.hint == SCOPES_HINT
    assert caught.value.exit_code == ExitCode.USAGE
    assert ORG_TOKEN not in str(caught.value)


def test_organization_tokens_are_refused_by_the_constructor() -> None:
    with respx.mock(assert_all_called=False) as router:
        with pytest.raises(MissingTokenError, match="organization token"):
            SentryClient(ORG_TOKEN, "acme")
        assert router.calls.call_count == 0


def test_organization_precedence_and_missing_message() -> None:
    env = {"SENTRY_ORG": "from-env"}
    assert sentry_organization("from-config", explicit="from-flag", environ=env) == "from-flag"
    assert sentry_organization("from-config", environ=env) == "from-config"
    assert sentry_organization(None, environ=env) == "from-env"
    with pytest.raises(UsageError) as caught:
        sentry_organization(None, environ={})
    assert caught.value.message == (
        "No Sentry organization: set [sentry] organization in the configuration or SENTRY_ORG."
    )
    assert caught.value.exit_code == ExitCode.USAGE


def test_base_url_precedence() -> None:
    env = {"SENTRY_URL": "https://de.sentry.io/"}
    assert sentry_base_url("https://cfg.test", explicit="https://flag.test", environ=env) == "https://flag.test"
    assert sentry_base_url("https://cfg.test", environ=env) == "https://de.sentry.io"
    assert sentry_base_url("https://cfg.test", environ={}) == "https://cfg.test"
    assert sentry_base_url(None, environ={}) == "https://sentry.io"
    with pytest.raises(UsageError, match=r"plain http to sentry\.corp"):
        sentry_base_url(None, environ={"SENTRY_URL": "http://sentry.corp"})


def test_from_env() -> None:
    env = {"SENTRY_AUTH_TOKEN": TOKEN, "SENTRY_URL": "http://127.0.0.1:9000", "SENTRY_ORG": "env-org"}
    sentry = SentryClient.from_env(config_organization="cfg-org", environ=env)
    assert (sentry.base_url, sentry.organization) == ("http://127.0.0.1:9000", "cfg-org")


# --- requests -----------------------------------------------------------------------------------


@respx.mock(base_url=BASE)
def test_auth_info_sends_a_bearer_token(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/api/0/").respond(
        json={"version": "0", "auth": {"scopes": ["org:read", "project:read"]}, "user": {"email": "a@b.c"}}
    )
    assert run(call("auth_info")) == SentryAuth(scopes=("org:read", "project:read"), user_email="a@b.c")
    headers = route.calls.last.request.headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["User-Agent"] == f"ldsentry/{__version__}"
    assert "LD-API-Version" not in headers


@respx.mock(base_url=BASE)
def test_auth_info_for_an_integration_token(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/0/").respond(json={"version": "0", "auth": {"scopes": ["event:read"]}, "user": None})
    assert run(call("auth_info")) == SentryAuth(scopes=("event:read",), user_email=None)


@respx.mock(base_url=BASE)
def test_list_projects_follows_link_pages_until_results_false(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/api/0/organizations/acme/projects/").mock(
        side_effect=[
            httpx.Response(
                200, json=[{"id": "1", "slug": "web", "name": "Web", "extra": 1}], headers=link("0:1:0", True)
            ),
            httpx.Response(200, json=[{"id": 2, "slug": "api"}], headers=link("0:2:0", True)),
            httpx.Response(200, json=[{"id": "3", "slug": "ios", "name": "iOS"}], headers=link("0:3:0", False)),
            httpx.Response(200, json=[{"id": "4", "slug": "never"}]),
        ]
    )

    async def go() -> tuple[list[SentryProject], list[SentryProject]]:
        async with client() as sentry:
            return await sentry.list_projects(), await sentry.list_projects()

    first, second = run(go())
    assert first == [
        SentryProject("1", "web", "Web"),
        SentryProject("2", "api", "api"),
        SentryProject("3", "ios", "iOS"),
    ]
    assert second == first
    assert route.call_count == 3  # the second call reused the first result
    params = [c.request.url.params for c in route.calls]
    assert [p.get("cursor") for p in params] == [None, "0:1:0", "0:2:0"]
    assert all(p["per_page"] == "100" for p in params)


@respx.mock(base_url=BASE)
def test_list_environments_includes_hidden_ones(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/api/0/projects/acme/web/environments/").respond(
        json=[{"id": "1", "name": "production", "isHidden": False}, {"id": "2", "name": "Staging", "isHidden": True}]
    )
    assert run(call("list_environments", "web")) == [
        SentryEnvironment("production", False),
        SentryEnvironment("Staging", True),
    ]
    assert route.calls.last.request.url.params["visibility"] == "all"


@respx.mock(base_url=BASE)
def test_list_environments_returns_none_for_an_unknown_project(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/0/projects/acme/ghost/environments/").respond(
        404, json={"detail": "The requested resource does not exist"}
    )
    assert run(call("list_environments", "ghost")) is None


def _events_page(ids: list[str], results_next: bool) -> httpx.Response:
    url = f"{BASE}/api/0/organizations/acme/events/"
    header = (
        f'<{url}?cursor=p>; rel="previous"; results="false"; cursor="p", '
        f'<{url}?cursor=n{len(ids)}>; rel="next"; results="{"true" if results_next else "false"}"; cursor="n{ids[-1]}"'
    )
    data = [{"id": i, "timestamp": "2026-01-01T00:00:00+00:00"} for i in ids]
    return httpx.Response(200, json={"data": data, "meta": {"fields": {"id": "string"}}}, headers={"Link": header})


@respx.mock(base_url=BASE)
def test_list_error_event_ids_resolves_the_slug_and_stops_at_the_limit(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/0/organizations/acme/projects/").respond(json=[{"id": "4505278496", "slug": "web"}])
    events = respx_mock.get("/api/0/organizations/acme/events/").mock(
        side_effect=[_events_page(["a", "b"], True), _events_page(["c", "d"], True), _events_page(["e"], False)]
    )
    ids = run(call("list_error_event_ids", "web", "production", "7d", 3))
    assert ids == ["a", "b", "c"]
    assert events.call_count == 2
    first = events.calls[0].request.url.params
    assert first.get_list("field") == ["id", "timestamp"]
    assert {k: first[k] for k in ("dataset", "environment", "project", "statsPeriod", "sort", "per_page")} == {
        "dataset": "errors",
        "environment": "production",
        "project": "4505278496",
        "statsPeriod": "7d",
        "sort": "-timestamp",
        "per_page": "3",
    }
    assert events.calls[1].request.url.params["cursor"] == "nb"


@respx.mock(base_url=BASE)
def test_list_error_event_ids_with_a_numeric_id_skips_the_project_lookup(respx_mock: respx.MockRouter) -> None:
    events = respx_mock.get("/api/0/organizations/acme/events/").mock(side_effect=[_events_page(["a"], False)])
    assert run(call("list_error_event_ids", "42", "production")) == ["a"]
    assert events.calls.last.request.url.params["project"] == "42"
    assert events.calls.last.request.url.params["per_page"] == "100"


@respx.mock(base_url=BASE)
def test_list_error_event_ids_raises_for_an_unknown_environment(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/0/organizations/acme/events/").respond(404, json={"detail": "Resource does not exist"})
    with pytest.raises(NotFoundError):
        run(call("list_error_event_ids", "42", "nowhere"))


@respx.mock(base_url=BASE)
def test_list_error_event_ids_for_an_unknown_slug(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/0/organizations/acme/projects/").respond(json=[{"id": "1", "slug": "web"}])
    with pytest.raises(NotFoundError) as caught:
        run(call("list_error_event_ids", "mobile", "production"))
    assert caught.value.message == "Sentry organization 'acme' has no project 'mobile'."


EVENT = {
    "id": EVENT_ID,
    "eventID": EVENT_ID,
    "groupID": "1341191803",
    "projectID": "4505278496",
    "dateCreated": "2020-06-17T22:26:56.098086Z",
    "tags": [{"key": "level", "value": "error"}, {"key": "environment", "value": "prod"}],
    "contexts": {"launchdarklyContext": {"kind": "user", "key": "user-123", "type": "default"}},
    "entries": [],
}


@respx.mock(base_url=BASE)
def test_get_event_parses_contexts_environment_time_and_builds_the_web_url(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"/api/0/projects/acme/web/events/{EVENT_ID}/").respond(json=EVENT)
    assert run(call("get_event", "web", EVENT_ID)) == SentryEvent(
        event_id=EVENT_ID,
        project_id="4505278496",
        environment="prod",
        web_url=f"https://sentry.io/organizations/acme/issues/1341191803/events/{EVENT_ID}/",
        timestamp_ms=1592432816098,
        contexts={"launchdarklyContext": {"kind": "user", "key": "user-123", "type": "default"}},
    )


@respx.mock(base_url=BASE)
def test_get_event_prefers_top_level_fields_and_tolerates_null_contexts(respx_mock: respx.MockRouter) -> None:
    payload = {
        **EVENT,
        "environment": "staging",
        "contexts": None,
        "groupID": None,
        "web_url": "https://acme.sentry.io/x/",
        "dateCreated": "bad",
    }
    respx_mock.get(f"/api/0/projects/acme/web/events/{EVENT_ID}/").respond(json=payload)
    event = run(call("get_event", "web", EVENT_ID))
    assert (event.environment, event.contexts, event.web_url, event.timestamp_ms) == (
        "staging",
        {},
        "https://acme.sentry.io/x/",
        None,
    )


def test_event_web_url_without_a_group_and_webhook_style_tags() -> None:
    sentry = client()
    event = sentry.parse_event({"event_id": EVENT_ID, "project": 7, "tags": [["environment", "prod"]]}, "web")
    assert event.web_url == f"https://sentry.io/organizations/acme/discover/web:{EVENT_ID}/"
    assert (event.project_id, event.environment) == ("7", "prod")


def test_get_event_is_paced_to_five_per_second() -> None:
    fake = FakeTime()
    with respx.mock(base_url=BASE) as router:
        route = router.get(f"/api/0/projects/acme/web/events/{EVENT_ID}/").respond(json=EVENT)

        async def go() -> None:
            async with client(fake, event_detail_rate=5.0) as sentry:
                for _ in range(4):
                    await sentry.get_event("web", EVENT_ID)

        run(go())
    assert route.call_count == 4
    assert fake.sleeps == [0.2, 0.2, 0.2]


def test_pacing_can_be_disabled() -> None:
    fake = FakeTime()
    with respx.mock(base_url=BASE) as router:
        router.get(f"/api/0/projects/acme/web/events/{EVENT_ID}/").respond(json=EVENT)

        async def go() -> None:
            async with client(fake, event_detail_rate=None) as sentry:
                await asyncio.gather(*(sentry.get_event("web", EVENT_ID) for _ in range(5)))

        run(go())
    assert fake.sleeps == []


def test_sentry_429_waits_for_the_reset_then_reports_the_json_string(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeTime()
    body = "You are attempting to use this endpoint too frequently. Limit is 5 requests in 1 seconds"
    with respx.mock(base_url=BASE) as router:
        router.get(f"/api/0/projects/acme/web/events/{EVENT_ID}/").respond(
            429, json=body, headers={"X-Sentry-Rate-Limit-Reset": str(int(NOW + 2))}
        )
        with pytest.raises(RateLimitedError) as caught:
            run(client(fake).get_event("web", EVENT_ID))
    assert fake.sleeps == [2.0, 1.0]  # the second reset is already in the past
    path = f"/api/0/projects/acme/web/events/{EVENT_ID}/"
    assert caught.value.message == f"Sentry is still rate limiting after 3 attempts (HTTP 429 on GET {path}): {body}"
    assert TOKEN not in caplog.text


def test_parse_iso_ms() -> None:
    assert parse_iso_ms("2020-06-17T22:26:56Z") == 1592432816000
    assert parse_iso_ms("2020-06-17T22:26:56.1Z") == 1592432816100
    assert parse_iso_ms("2020-06-17T22:26:56.123456789+00:00") == 1592432816123
    assert parse_iso_ms("2020-06-17T22:26:56") == 1592432816000
    assert parse_iso_ms(None) is None
    assert parse_iso_ms("yesterday") is None


# --- the organization's lists that settle most environments (sentry-api.md §3) ---------------------


@respx.mock(base_url=BASE)
def test_project_summaries_carry_their_environment_names_or_none(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/api/0/organizations/acme/projects/").respond(
        json=[
            {"id": "1", "slug": "web", "name": "Web", "environments": ["production", 3, "staging"]},
            {"id": "2", "slug": "old", "name": "Old"},
        ]
    )
    projects = run(client().list_projects())
    assert [p.environments for p in projects] == [("production", "staging"), None]


@respx.mock(base_url=BASE)
def test_hidden_environment_names_asks_the_organization_once(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/api/0/organizations/acme/environments/").respond(
        json=[{"id": "3", "name": "qa"}, {"id": "4"}, "junk"]
    )
    assert run(client().hidden_environment_names()) == frozenset({"qa"})
    assert dict(route.calls.last.request.url.params) == {"visibility": "hidden"}


def test_settled_environments_reads_both_lists_and_leaves_the_rest_to_the_project() -> None:
    web = SentryProject("1", "web", environments=("production",))
    listed = (SentryEnvironment("production"),)
    assert settled_environments(web, {"production"}, frozenset()) == listed
    assert settled_environments(web, {"staging"}, frozenset({"qa"})) == listed  # staging: missing
    # Hidden somewhere: listed or not, only the project's own list says whether it is hidden here.
    assert settled_environments(web, {"production"}, frozenset({"production"})) is None
    assert settled_environments(web, {"staging"}, frozenset({"staging"})) is None
    assert settled_environments(SentryProject("2", "old"), {"production"}, frozenset()) is None
    assert settled_environments(web, {"production"}, None) is None
