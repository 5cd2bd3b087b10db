"""ApiSession: headers, URL safety, retries and rate-limit waits, error mapping, pagination, logging."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from email.utils import formatdate
from typing import Any, TypeVar

import httpx
import pytest
import respx
from support import NOW, FakeTime, no_jitter

from ld_sentry_cli import __version__, launchdarkly, sentry
from ld_sentry_cli.errors import (
    ApiError,
    AuthFailedError,
    ExitCode,
    MissingTokenError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceConflictError,
    UsageError,
)
from ld_sentry_cli.http import (
    ApiResponse,
    ApiSession,
    RateLimiter,
    RetryPolicy,
    is_loopback_host,
    validate_base_url,
)

T = TypeVar("T")
BASE = "https://api.example.test"
TOKEN = "api-0a1b2c3d-1111-2222-3333-444455556666"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make_session(
    fake: FakeTime | None = None,
    *,
    base_url: str = BASE,
    service: str = "LaunchDarkly",
    retry: RetryPolicy | None = None,
    random_fn: Callable[[], float] = no_jitter,
    concurrency: int = 8,
    hints: dict[int, str] | None = None,
) -> ApiSession:
    fake = fake or FakeTime()
    options = fake.options(concurrency=concurrency, retry=retry or RetryPolicy(), random_fn=random_fn)
    conventions = sentry.CONVENTIONS if service == "Sentry" else launchdarkly.CONVENTIONS
    return ApiSession(
        base_url,
        conventions=dataclasses.replace(conventions, hints=hints or {}, url_setting="LD_BASE_URI"),
        auth_header="Authorization",
        auth_value=TOKEN,
        headers={"LD-API-Version": "20240415"},
        options=options,
    )


async def get(session: ApiSession, path: str = "/x", **kwargs: Any) -> Any:
    async with session:
        return await session.get_json(path, **kwargs)


# --- headers and URL safety ---------------------------------------------------------------------


@respx.mock(base_url=BASE)
def test_default_headers_and_user_agent_override(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/x").respond(json={"ok": True})

    async def go() -> None:
        async with make_session() as session:
            assert await session.get_json("/x") == {"ok": True}
            await session.request("GET", "/x", headers={"User-Agent": f"MetricImport-ldsentry-int/{__version__}"})

    run(go())
    first, second = (call.request.headers for call in route.calls)
    assert first["User-Agent"] == f"ldsentry/{__version__}"
    assert first["Authorization"] == TOKEN
    assert first["LD-API-Version"] == "20240415"
    assert first["Accept"] == "application/json"
    assert second["User-Agent"] == f"MetricImport-ldsentry-int/{__version__}"
    assert second["Authorization"] == TOKEN


@pytest.mark.parametrize("host", ["example.com", "10.0.0.5", "[2001:db8::1]", "localhost.evil.com"])
def test_plain_http_is_refused_for_non_loopback_hosts(host: str) -> None:
    with respx.mock(assert_all_called=False) as router:
        with pytest.raises(UsageError) as caught:
            make_session(base_url=f"http://{host}:8080")
        assert router.calls.call_count == 0
    bare = host.strip("[]")
    assert caught.value.message == (
        f"Refusing to send the LaunchDarkly token over plain http to {bare}: use https:// "
        "(plain http is allowed only for loopback hosts: localhost, 127.0.0.0/8, ::1)."
    )
    assert caught.value.hint == f"Change LD_BASE_URI to https://{host}:8080."
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    "base", ["http://127.0.0.1:8080", "http://127.9.8.7", "http://localhost:5000", "http://[::1]:9000"]
)
def test_plain_http_is_allowed_for_loopback_hosts(base: str) -> None:
    with respx.mock(base_url=base) as router:
        router.get("/api/0/").respond(json={"version": "0"})
        assert run(get(make_session(base_url=base), "/api/0/")) == {"version": "0"}
        assert router.calls.call_count == 1


def test_loopback_detection() -> None:
    assert is_loopback_host("LOCALHOST")
    assert is_loopback_host("127.255.0.1")
    assert is_loopback_host("[::1]")
    assert not is_loopback_host("128.0.0.1")
    assert not is_loopback_host("localhost.example.com")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "app.launchdarkly.com",
            "Invalid LaunchDarkly base URL 'app.launchdarkly.com': it must start with https:// "
            "(or http:// for localhost).",
        ),
        (
            "ftp://app.launchdarkly.com",
            "Invalid LaunchDarkly base URL 'ftp://app.launchdarkly.com': it must start with https:// "
            "(or http:// for localhost).",
        ),
        ("https://", "Invalid LaunchDarkly base URL 'https://': it names no host."),
        ("https://host:99999", "Invalid LaunchDarkly base URL 'https://host:99999': it cannot be parsed."),
        (
            "https://host/?a=1",
            "Invalid LaunchDarkly base URL 'https://host/?a=1': it must not contain a query or fragment.",
        ),
        (
            "https://me:hunter22@host",
            "Invalid LaunchDarkly base URL: it must not contain a user name or password.",
        ),
    ],
)
def test_invalid_base_urls(url: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        validate_base_url(url, service="LaunchDarkly", setting="LD_BASE_URI")
    assert caught.value.message == message
    assert caught.value.hint == "Set LD_BASE_URI to an address such as https://host."


def test_base_url_keeps_a_path_prefix_and_drops_the_trailing_slash() -> None:
    assert validate_base_url("https://h.test/sentry/", service="S", setting="x") == "https://h.test/sentry"
    with respx.mock() as router:
        route = router.get("https://h.test/sentry/api/0/").respond(json=[])
        run(get(make_session(base_url="https://h.test/sentry/"), "/api/0/"))
        assert route.called


# --- retries and rate limits --------------------------------------------------------------------


def _retry_after_run(responses: list[httpx.Response], fake: FakeTime, **session: Any) -> Any:
    with respx.mock(base_url=BASE) as router:
        router.get("/x").mock(side_effect=responses)
        return run(get(make_session(fake, **session)))


def test_429_waits_until_launchdarkly_reset_in_epoch_milliseconds() -> None:
    fake = FakeTime()
    reset_ms = str(int((NOW + 3.5) * 1000))
    responses = [httpx.Response(429, headers={"X-Ratelimit-Reset": reset_ms}), httpx.Response(200, json=[1])]
    assert _retry_after_run(responses, fake) == [1]
    assert fake.sleeps == [3.5]


def test_429_with_a_reset_in_the_past_waits_briefly() -> None:
    fake = FakeTime()
    reset_ms = str(int((NOW - 30) * 1000))
    responses = [httpx.Response(429, headers={"X-Ratelimit-Reset": reset_ms}), httpx.Response(200, json=[])]
    _retry_after_run(responses, fake)
    assert fake.sleeps == [1.0]


def test_429_without_headers_backs_off_exponentially() -> None:
    fake = FakeTime()
    responses = [httpx.Response(429), httpx.Response(429), httpx.Response(429), httpx.Response(200, json=[])]
    _retry_after_run(responses, fake)
    assert fake.sleeps == [0.2, 0.4, 0.8]


def test_429_retry_after_seconds_wins_over_reset_headers() -> None:
    fake = FakeTime()
    headers = {"Retry-After": "7", "X-Ratelimit-Reset": str(int((NOW + 2) * 1000))}
    _retry_after_run([httpx.Response(429, headers=headers), httpx.Response(200, json=[])], fake)
    assert fake.sleeps == [7.0]


def test_429_retry_after_as_http_date() -> None:
    fake = FakeTime()
    headers = {"Retry-After": formatdate(NOW + 4, usegmt=True)}
    _retry_after_run([httpx.Response(429, headers=headers), httpx.Response(200, json=[])], fake)
    assert fake.sleeps == [4.0]


def test_429_waits_until_sentry_reset_in_epoch_seconds() -> None:
    fake = FakeTime()
    headers = {"X-Sentry-Rate-Limit-Reset": str(int(NOW + 12))}
    _retry_after_run([httpx.Response(429, headers=headers), httpx.Response(200, json=[])], fake, service="Sentry")
    assert fake.sleeps == [12.0]


def test_each_wait_is_capped_and_jitter_is_added() -> None:
    fake = FakeTime()
    responses = [
        httpx.Response(429, headers={"Retry-After": "3600"}),
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(200, json=[]),
    ]
    _retry_after_run(responses, fake, random_fn=lambda: 1.0)
    assert fake.sleeps == [60.0, 2.25]


def test_429_after_the_budget_raises_rate_limited() -> None:
    fake = FakeTime()
    with respx.mock(base_url=BASE) as router:
        route = router.get("/x").respond(429, json={"code": "rate_limited", "message": "Slow down"})
        with pytest.raises(RateLimitedError) as caught:
            run(get(make_session(fake, retry=RetryPolicy(max_attempts=3))))
    assert route.call_count == 3
    assert fake.sleeps == [0.2, 0.4]
    assert caught.value.message == (
        "LaunchDarkly is still rate limiting after 3 attempts (HTTP 429 on GET /x): Slow down (rate_limited)"
    )
    assert caught.value.hint == ("Wait a minute and retry, or lower --concurrency; LaunchDarkly limits request rates.")
    assert caught.value.status == 429


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_then_success_is_retried(status: int) -> None:
    fake = FakeTime()
    session = make_session(fake)
    with respx.mock(base_url=BASE) as router:
        route = router.get("/x").mock(side_effect=[httpx.Response(status), httpx.Response(200, json={"a": 1})])
        assert run(get(session)) == {"a": 1}
    assert route.call_count == 2
    assert fake.sleeps == [0.2]


def test_backoff_is_capped() -> None:
    fake = FakeTime()
    policy = RetryPolicy(max_attempts=6, backoff_base=1.0, backoff_cap=3.0)
    with respx.mock(base_url=BASE) as router:
        router.get("/x").respond(503)
        with pytest.raises(ApiError):
            run(get(make_session(fake, retry=policy)))
    assert fake.sleeps == [1.0, 2.0, 3.0, 3.0, 3.0]


def test_5xx_after_the_budget_raises_api_error() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/x").respond(503, json={"message": "maintenance"})
        with pytest.raises(ApiError) as caught:
            run(get(make_session(retry=RetryPolicy(max_attempts=2))))
    assert caught.value.message == "LaunchDarkly had a server error after 2 attempts (HTTP 503 on GET /x): maintenance"
    assert caught.value.hint == "LaunchDarkly may be having an outage; retry later."
    assert caught.value.exit_code == ExitCode.SERVICE


def test_501_is_not_retried() -> None:
    fake = FakeTime()
    with respx.mock(base_url=BASE) as router:
        route = router.get("/x").respond(501, json={"code": "not_implemented", "message": "Nope"})
        with pytest.raises(ApiError) as caught:
            run(get(make_session(fake)))
    assert route.call_count == 1
    assert fake.sleeps == []
    assert caught.value.message == (
        "LaunchDarkly had a server error after 1 attempt (HTTP 501 on GET /x): Nope (not_implemented)"
    )


def test_timeout_then_success_is_retried() -> None:
    fake = FakeTime()
    with respx.mock(base_url=BASE) as router:
        router.get("/x").mock(side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=[])])
        assert run(get(make_session(fake))) == []
    assert fake.sleeps == [0.2]


def test_timeouts_after_the_budget_raise_network_error() -> None:
    with respx.mock(base_url=BASE) as router:
        route = router.get("/x").mock(side_effect=httpx.ConnectTimeout("slow"))
        with pytest.raises(NetworkError) as caught:
            run(get(make_session(retry=RetryPolicy(max_attempts=4))))
    assert route.call_count == 4
    assert (
        caught.value.message
        == "Timed out talking to LaunchDarkly at api.example.test after 4 attempts (ConnectTimeout)"
    )
    assert caught.value.hint == (
        "Check your network connection and proxy settings, and that api.example.test is the right "
        "LaunchDarkly host (LD_BASE_URI)."
    )
    assert caught.value.exit_code == ExitCode.SERVICE


def test_connection_errors_raise_network_error_naming_the_host() -> None:
    with respx.mock(base_url="http://127.0.0.1:8999") as router:
        router.get("/x").mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
        with pytest.raises(NetworkError) as caught:
            run(get(make_session(base_url="http://127.0.0.1:8999", retry=RetryPolicy(max_attempts=2))))
    assert caught.value.message == (
        "Could not reach LaunchDarkly at 127.0.0.1:8999 after 2 attempts: [Errno 111] Connection refused"
    )


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.Response(503), ApiError),
        (httpx.Response(429), RateLimitedError),
        (httpx.ConnectError("refused"), NetworkError),
        (httpx.ReadTimeout("slow"), NetworkError),
    ],
)
def test_post_is_not_retried(failure: Any, error: type[Exception]) -> None:
    fake = FakeTime()
    with respx.mock(base_url=BASE) as router:
        route = router.post("/x").mock(side_effect=[failure, httpx.Response(201, json={})])

        async def go() -> None:
            async with make_session(fake) as session:
                await session.request("POST", "/x", json_body={"key": "k"})

        with pytest.raises(error) as caught:
            run(go())
    assert route.call_count == 1
    assert fake.sleeps == []
    assert "1 attempt" in str(caught.value)


def test_post_is_retried_when_the_caller_asks() -> None:
    with respx.mock(base_url=BASE) as router:
        route = router.post("/x").mock(side_effect=[httpx.Response(503), httpx.Response(201, json={"key": "k"})])

        async def go() -> Any:
            async with make_session() as session:
                return (await session.request("POST", "/x", json_body={"key": "k"}, retry=True)).body

        assert run(go()) == {"key": "k"}
    assert route.call_count == 2
    assert route.calls[1].request.content == b'{"key":"k"}'


def test_get_retries_can_be_disabled() -> None:
    with respx.mock(base_url=BASE) as router:
        route = router.get("/x").respond(503)

        async def go() -> None:
            async with make_session() as session:
                await session.request("GET", "/x", retry=False)

        with pytest.raises(ApiError):
            run(go())
    assert route.call_count == 1


# --- error mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "status", "body", "error", "message", "hint"),
    [
        (
            "LaunchDarkly",
            401,
            {"code": "unauthorized", "message": "Invalid access token"},
            AuthFailedError,
            "LaunchDarkly rejected the token (HTTP 401 on GET /x): Invalid access token (unauthorized)",
            "Check the LaunchDarkly token.",
        ),
        (
            "LaunchDarkly",
            403,
            {"code": "forbidden", "message": "Access to the requested resource was denied"},
            PermissionDeniedError,
            "LaunchDarkly denied permission (HTTP 403 on GET /x): Access to the requested resource was denied "
            "(forbidden)",
            "The LaunchDarkly token may not do this; check its role or scopes.",
        ),
        (
            "LaunchDarkly",
            404,
            {"code": "not_found", "message": "Invalid resource identifier"},
            NotFoundError,
            "LaunchDarkly has no such resource (HTTP 404 on GET /x): Invalid resource identifier (not_found)",
            None,
        ),
        (
            "LaunchDarkly",
            409,
            {"code": "optimistic_locking_error", "message": "Conflict"},
            ServiceConflictError,
            "LaunchDarkly reported a conflict (HTTP 409 on GET /x): Conflict (optimistic_locking_error)",
            None,
        ),
        (
            "LaunchDarkly",
            400,
            {"code": "invalid_request", "message": "Bad filter"},
            ApiError,
            "LaunchDarkly refused the request (HTTP 400 on GET /x): Bad filter (invalid_request)",
            None,
        ),
        (
            "Sentry",
            404,
            {"detail": "The requested resource does not exist"},
            NotFoundError,
            "Sentry has no such resource (HTTP 404 on GET /x): The requested resource does not exist",
            None,
        ),
        (
            "Sentry",
            403,
            {"detail": {"message": "You do not have permission", "code": "forbidden"}},
            PermissionDeniedError,
            "Sentry denied permission (HTTP 403 on GET /x): You do not have permission",
            "The Sentry token may not do this; check its role or scopes.",
        ),
        (
            # Each service reads only its own error shape; another's is shown as it came.
            "LaunchDarkly",
            404,
            {"detail": "The requested resource does not exist"},
            NotFoundError,
            "LaunchDarkly has no such resource (HTTP 404 on GET /x): "
            '{"detail": "The requested resource does not exist"}',
            None,
        ),
        (
            "Sentry",
            400,
            {"code": "invalid_request", "message": "Bad filter"},
            ApiError,
            'Sentry refused the request (HTTP 400 on GET /x): {"code": "invalid_request", "message": "Bad filter"}',
            None,
        ),
        (
            "LaunchDarkly",
            422,
            {"environment": ["Unknown environment"]},
            ApiError,
            'LaunchDarkly refused the request (HTTP 422 on GET /x): {"environment": ["Unknown environment"]}',
            None,
        ),
        ("LaunchDarkly", 404, None, NotFoundError, "LaunchDarkly has no such resource (HTTP 404 on GET /x)", None),
    ],
)
def test_error_statuses_map_to_ldsentry_errors(
    service: str, status: int, body: Any, error: type[Exception], message: str, hint: str | None
) -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/x").respond(status, json=body) if body is not None else router.get("/x").respond(status)
        with pytest.raises(error) as caught:
            run(get(make_session(service=service)))
    assert caught.value.message == message  # type: ignore[attr-defined]
    assert caught.value.hint == hint  # type: ignore[attr-defined]
    assert caught.value.status == status  # type: ignore[attr-defined]


def test_client_hints_override_the_defaults() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/x").respond(401, json={"code": "unauthorized", "message": "Invalid access token"})
        with pytest.raises(AuthFailedError) as caught:
            run(get(make_session(hints={401: "Check LD_ACCESS_TOKEN."})))
    assert caught.value.hint == "Check LD_ACCESS_TOKEN."


def test_sentry_json_string_body_is_the_message() -> None:
    body = "You are attempting to use this endpoint too frequently. Limit is 60 requests in 60 seconds"
    with respx.mock(base_url=BASE) as router:
        router.get("/x").respond(429, json=body)
        with pytest.raises(RateLimitedError) as caught:
            run(get(make_session(service="Sentry", retry=RetryPolicy(max_attempts=1))))
    assert caught.value.message == f"Sentry is still rate limiting after 1 attempt (HTTP 429 on GET /x): {body}"


def test_malformed_json_on_200_is_an_api_error() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/x").respond(200, content=b'{"items": [', headers={"Content-Type": "application/json"})
        with pytest.raises(ApiError) as caught:
            run(get(make_session()))
    assert (
        caught.value.message == 'LaunchDarkly sent a response that is not valid JSON (HTTP 200 on GET /x): {"items": ['
    )
    assert caught.value.hint == (
        "Check the LaunchDarkly base URL (https://api.example.test, set by LD_BASE_URI): a proxy, login page "
        "or another server may be answering instead of the API."
    )


HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>\n  Sign in · Corporate SSO\n</title></head><body>"
    + "<p>lorem ipsum</p>" * 500
    + "</body></html>"
)


def test_html_page_on_200_is_a_one_line_api_error() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/x").respond(200, text=HTML_PAGE, headers={"Content-Type": "text/html"})
        with pytest.raises(ApiError) as caught:
            run(get(make_session()))
    assert caught.value.message == (
        "LaunchDarkly sent an HTML page titled 'Sign in · Corporate SSO' instead of JSON (HTTP 200 on GET /x)"
    )


def test_html_404_from_a_proxy_is_not_read_as_not_found() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/x").respond(404, text="<html><title>404 Not Found</title>nginx</html>")
        with pytest.raises(ApiError) as caught:
            run(get(make_session()))
    assert type(caught.value) is ApiError
    assert caught.value.message == (
        "LaunchDarkly sent an HTML page titled '404 Not Found' instead of JSON (HTTP 404 on GET /x)"
    )


def test_html_502_is_retried_then_summarised() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/x").respond(502, text=HTML_PAGE.replace("Sign in · Corporate SSO", "502 Bad Gateway"))
        with pytest.raises(ApiError) as caught:
            run(get(make_session(retry=RetryPolicy(max_attempts=2))))
    assert caught.value.message == (
        "LaunchDarkly had a server error after 2 attempts (HTTP 502 on GET /x): an HTML page titled '502 Bad Gateway'"
    )


def test_long_text_bodies_are_truncated_to_one_line() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/x").respond(400, text="bad\nrequest " + "x" * 1000)
        with pytest.raises(ApiError) as caught:
            run(get(make_session()))
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith(
        "LaunchDarkly sent a response that is not valid JSON (HTTP 400 on GET /x): bad request xxx"
    )
    assert message.endswith("…")
    assert len(message) < 260


def test_redirects_are_reported_not_followed() -> None:
    with respx.mock(base_url=BASE) as router:
        route = router.get("/x").respond(301, headers={"Location": "https://elsewhere.test/x"})
        with pytest.raises(ApiError) as caught:
            run(get(make_session()))
    assert route.call_count == 1
    assert (
        caught.value.message == "LaunchDarkly redirected the request to https://elsewhere.test/x (HTTP 301 on GET /x)"
    )
    assert caught.value.hint == "ldsentry does not follow redirects; set LD_BASE_URI to the final address."


def test_tokens_and_sdk_keys_echoed_by_the_server_are_redacted() -> None:
    sdk_key = "sdk-99998888-7777-6666-5555-444433332222"
    body = {"code": "invalid_request", "message": f"token {TOKEN} cannot use key {sdk_key}"}
    with respx.mock(base_url=BASE) as router:
        router.get("/x").respond(400, json=body)
        with pytest.raises(ApiError) as caught:
            run(get(make_session()))
    assert caught.value.message == (
        "LaunchDarkly refused the request (HTTP 400 on GET /x): token [REDACTED] cannot use key [REDACTED] "
        "(invalid_request)"
    )


# --- observability ------------------------------------------------------------------------------


def test_debug_log_has_method_path_status_and_retries_but_no_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ldsentry.http")
    sdk_key = "sdk-12345678-abcd-abcd-abcd-123456789012"
    with respx.mock(base_url=BASE) as router:
        router.get("/api/v2/projects/p").mock(
            side_effect=[
                httpx.Response(503),
                httpx.Response(200, json={"environments": {"items": [{"apiKey": sdk_key}]}}),
            ]
        )
        run(get(make_session(), "/api/v2/projects/p", params={"expand": "environments", "q": TOKEN}))
    lines = [record.getMessage() for record in caplog.records if record.name == "ldsentry.http"]
    assert lines == [
        "GET /api/v2/projects/p?expand=environments&q=[REDACTED] -> 503 in 0 ms (attempt 1/5)",
        "retrying GET /api/v2/projects/p?expand=environments&q=[REDACTED] in 0.20 s after 503 (attempt 2/5)",
        "GET /api/v2/projects/p?expand=environments&q=[REDACTED] -> 200 in 0 ms (attempt 2/5)",
    ]
    assert TOKEN not in caplog.text
    assert sdk_key not in caplog.text


def test_concurrency_is_bounded() -> None:
    in_flight = 0
    peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1
        return httpx.Response(200, json=[])

    with respx.mock(base_url=BASE) as router:
        router.get("/x").mock(side_effect=slow)

        async def go() -> None:
            async with make_session(concurrency=2) as session:
                await asyncio.gather(*(session.get_json("/x") for _ in range(7)))

        run(go())
    assert peak == 2


def test_rate_limiter_spaces_calls() -> None:
    fake = FakeTime()
    limiter = RateLimiter(5.0, sleep=fake.sleep, monotonic=fake.clock)

    async def go() -> None:
        for _ in range(4):
            await limiter.acquire()

    run(go())
    assert fake.sleeps == [0.2, 0.2, 0.2]


def test_rate_limiter_reserves_slots_for_concurrent_callers() -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(round(seconds, 3))

    limiter = RateLimiter(5.0, sleep=record, monotonic=lambda: 100.0)

    async def go() -> None:
        await asyncio.gather(*(limiter.acquire() for _ in range(3)))

    run(go())
    assert sorted(waits) == [0.2, 0.4]


def test_rate_limiter_rejects_a_non_positive_rate() -> None:
    with pytest.raises(UsageError, match=r"^Invalid request rate 0: it must be positive\.$"):
        RateLimiter(0)


# --- pagination ---------------------------------------------------------------------------------


def _offset_page(start: int, count: int, total: int | None, next_href: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"items": [{"key": f"m{i}"} for i in range(start, start + count)], "_links": {}}
    if total is not None:
        body["totalCount"] = total
    if next_href:
        body["_links"]["next"] = {"href": next_href, "type": "application/json"}
    return body


def _collect_offsets(router: respx.MockRouter) -> list[tuple[str | None, str | None]]:
    return [(c.request.url.params.get("limit"), c.request.url.params.get("offset")) for c in router.calls]


def test_offset_pagination_until_total_count() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/c").mock(
            side_effect=[
                httpx.Response(200, json=_offset_page(0, 50, 120)),
                httpx.Response(200, json=_offset_page(50, 50, 120)),
                httpx.Response(200, json=_offset_page(100, 20, 120)),
            ]
        )

        async def go() -> list[Any]:
            async with make_session() as session:
                return await launchdarkly.paginate(session, "/c", page_size=50, params={"filter": "x"})

        items = run(go())
        assert _collect_offsets(router) == [("50", "0"), ("50", "50"), ("50", "100")]
        assert all(c.request.url.params["filter"] == "x" for c in router.calls)
    assert [item["key"] for item in items] == [f"m{i}" for i in range(120)]


def test_offset_pagination_survives_a_server_capping_limit() -> None:
    # The server returns 20 per page although 50 were asked; totalCount keeps the loop going.
    with respx.mock(base_url=BASE) as router:
        pages = [_offset_page(0, 20, 45), _offset_page(20, 20, 45), _offset_page(40, 5, 45)]
        router.get("/c").mock(side_effect=[httpx.Response(200, json=page) for page in pages])

        async def go() -> list[Any]:
            async with make_session() as session:
                return await launchdarkly.paginate(session, "/c", page_size=50)

        assert len(run(go())) == 45
        assert _collect_offsets(router) == [("50", "0"), ("50", "20"), ("50", "40")]


def test_offset_pagination_without_total_stops_on_a_short_page() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/c").mock(
            side_effect=[
                httpx.Response(200, json=_offset_page(0, 10, None)),
                httpx.Response(200, json=_offset_page(10, 10, None)),
                httpx.Response(200, json=_offset_page(20, 3, None)),
            ]
        )

        async def go() -> list[Any]:
            async with make_session() as session:
                return await launchdarkly.paginate(session, "/c", page_size=10, start_offset=0)

        assert len(run(go())) == 23
        assert router.calls.call_count == 3


def test_offset_pagination_follows_next_link_offsets_and_stops_on_empty_page() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/c").mock(
            side_effect=[
                httpx.Response(200, json=_offset_page(0, 2, None, "/c?limit=2&offset=5")),
                httpx.Response(200, json=_offset_page(5, 2, None)),
                httpx.Response(200, json=_offset_page(7, 0, None)),
            ]
        )

        async def go() -> list[Any]:
            async with make_session() as session:
                return await launchdarkly.paginate(session, "/c", page_size=2)

        assert [i["key"] for i in run(go())] == ["m0", "m1", "m5", "m6"]
        assert _collect_offsets(router) == [("2", "0"), ("2", "5"), ("2", "7")]


def test_offset_pagination_requires_an_items_list() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/c").respond(json={"data": []})

        async def go() -> list[Any]:
            async with make_session() as session:
                return await launchdarkly.paginate(session, "/c", page_size=2)

        with pytest.raises(ApiError, match=r"^LaunchDarkly sent a collection without 'items' \(GET /c\)$"):
            run(go())


def _link(cursor: str, results: bool) -> str:
    flag = "true" if results else "false"
    return (
        f'<{BASE}/l/?&cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", '
        f'<{BASE}/l/?&cursor={cursor}>; rel="next"; results="{flag}"; cursor="{cursor}"'
    )


def test_link_pagination_follows_next_while_results_true() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/l/").mock(
            side_effect=[
                httpx.Response(200, json=[1, 2], headers={"Link": _link("0:2:0", True)}),
                httpx.Response(200, json=[3, 4], headers={"Link": _link("0:4:0", True)}),
                httpx.Response(200, json=[5], headers={"Link": _link("0:6:0", False)}),
            ]
        )

        async def go() -> list[Any]:
            async with make_session(service="Sentry") as session:
                return await sentry.paginate(session, "/l/", params={"per_page": 2})

        assert run(go()) == [1, 2, 3, 4, 5]
        cursors = [c.request.url.params.get("cursor") for c in router.calls]
        assert cursors == [None, "0:2:0", "0:4:0"]
        assert all(c.request.url.params["per_page"] == "2" for c in router.calls)


def test_link_pagination_stops_at_max_items_and_reads_an_items_key() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/l/").mock(
            side_effect=[
                httpx.Response(200, json={"data": [1, 2]}, headers={"Link": _link("0:2:0", True)}),
                httpx.Response(200, json={"data": [3, 4]}, headers={"Link": _link("0:4:0", True)}),
            ]
        )

        async def go() -> list[Any]:
            async with make_session(service="Sentry") as session:
                return await sentry.paginate(session, "/l/", items_key="data", max_items=3)

        assert run(go()) == [1, 2, 3]
        assert router.calls.call_count == 2


def test_link_pagination_without_a_link_header_is_one_page() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/l/").respond(json=[1])

        async def go() -> list[Any]:
            async with make_session(service="Sentry") as session:
                return await sentry.paginate(session, "/l/")

        assert run(go()) == [1]


def test_link_targets_come_parsed_with_their_parameters() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/l/").respond(json=[], headers={"Link": _link("1420837533:0:0", True)})

        async def go() -> ApiResponse:
            async with make_session(service="Sentry") as session:
                return await session.request("GET", "/l/")

        links = run(go()).links
    assert links["next"] == {
        "url": f"{BASE}/l/?&cursor=1420837533:0:0",
        "rel": "next",
        "results": "true",
        "cursor": "1420837533:0:0",
    }
    assert links["previous"]["results"] == "false"


def test_429_waits_until_launchdarkly_per_token_reset() -> None:
    fake = FakeTime()
    headers = {"X-Ratelimit-Auth-Token-Reset": str(int((NOW + 9) * 1000))}
    assert _retry_after_run([httpx.Response(429, headers=headers), httpx.Response(200, json=[1])], fake) == [1]
    assert fake.sleeps == [9.0]


def test_429_with_both_launchdarkly_resets_waits_for_the_later() -> None:
    fake = FakeTime()
    headers = {
        "X-Ratelimit-Reset": str(int((NOW + 2) * 1000)),
        "X-Ratelimit-Auth-Token-Reset": str(int((NOW + 5) * 1000)),
    }
    _retry_after_run([httpx.Response(429, headers=headers), httpx.Response(200, json=[])], fake)
    assert fake.sleeps == [5.0]


def test_each_service_reads_only_its_own_rate_limit_headers() -> None:
    fake = FakeTime()
    ld_header = {"X-Ratelimit-Reset": str(int((NOW + 30) * 1000))}
    _retry_after_run([httpx.Response(429, headers=ld_header), httpx.Response(200, json=[])], fake, service="Sentry")
    assert fake.sleeps == [0.2]  # Sentry sends no such header: exponential backoff, not a 30 s wait


@pytest.mark.parametrize(
    ("token", "position", "codepoint"),
    [("api-…", 5, "U+2026"), ("api-12\u00a034", 7, "U+00A0"), ("api-12\n34", 7, "U+000A")],
)
def test_a_token_that_cannot_be_a_header_names_the_character(token: str, position: int, codepoint: str) -> None:
    with pytest.raises(MissingTokenError) as caught:
        launchdarkly.launchdarkly_token({"LD_ACCESS_TOKEN": token})
    assert caught.value.message == (
        f"LD_ACCESS_TOKEN has a character that cannot be sent in an HTTP header ({codepoint} at position "
        f"{position} of {len(token.strip())}): was it pasted from a document?"
    )
    assert (
        caught.value.hint
        == "Copy the token again from where it was created and set LD_ACCESS_TOKEN to exactly that text."
    )
    with pytest.raises(MissingTokenError, match=r"^SENTRY_AUTH_TOKEN has a character"):
        sentry.sentry_token({"SENTRY_AUTH_TOKEN": "sntryu_" + token})


def test_a_path_no_url_can_carry_is_a_usage_error_not_a_crash() -> None:
    # A 100,000-character project key from the configuration: httpx refuses to build the URL.
    with pytest.raises(UsageError) as caught:
        run(get(make_session(), "/api/v2/projects/" + "k" * 100_000))
    assert caught.value.message == (f"Cannot send GET /api/v2/projects/{'k' * 62}… to LaunchDarkly: URL too long.")
    assert caught.value.hint == "Check the keys and names in the configuration (`ldsentry validate` names their lines)."
    assert caught.value.exit_code == ExitCode.USAGE
