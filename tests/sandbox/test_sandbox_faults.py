"""Fault injection: seeded 429s and 5xx in each service's dialect, latency, dropped connections."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sandbox_helpers import IMPORT_HEADERS, LD_HEADERS, LD_TOKEN, SENTRY_HEADERS, in_process_client, server_client

from ld_sentry_cli.sandbox import ConnectionDropped, FaultPlan, FaultRule, Sandbox, build_app, serve_in_thread
from ld_sentry_cli.sandbox.faults import FaultInjector, FaultKind
from ld_sentry_cli.sandbox.scenario import Scenario


def outcomes(plan: FaultPlan, requests: list[tuple[str, str]]) -> list[FaultKind]:
    """The decisions a fresh injector makes for a sequence of (method, path) requests."""
    injector = FaultInjector(plan)
    return [injector.decide(method, path, "").kind for method, path in requests]


def test_decisions_are_seeded_and_independent_of_arrival_order() -> None:
    plan = FaultPlan(seed=42, default=FaultRule(rate_limited=0.5))
    paths = [("GET", f"/api/v2/projects/p{i}") for i in range(200)]
    forward = outcomes(plan, paths)
    assert forward == outcomes(plan, paths)
    backward = outcomes(plan, list(reversed(paths)))
    assert forward == list(reversed(backward))  # the same request gets the same fate
    share = forward.count(FaultKind.RATE_LIMITED) / len(forward)
    assert 0.4 < share < 0.6
    assert forward != outcomes(FaultPlan(seed=43, default=FaultRule(rate_limited=0.5)), paths)
    # A retry of the same request is a new occurrence, with its own draw.
    retries = outcomes(plan, [("GET", "/api/v2/projects/p0")] * 20)
    assert len(set(retries)) == 2


def test_per_prefix_rules_target_only_their_paths() -> None:
    plan = FaultPlan(seed=1, routes=(FaultRule(prefix="/v2/event-data-import/", server_errors=1.0),))
    assert outcomes(plan, [("POST", "/v2/event-data-import/p/e")]) == [FaultKind.SERVER_ERROR]
    assert outcomes(plan, [("GET", "/api/v2/projects")]) == [FaultKind.NONE]


def test_half_launchdarkly_requests_rate_limited_with_proper_headers(unit_scenario: Scenario) -> None:
    sandbox = build_app(unit_scenario, faults=FaultPlan(seed=7, default=FaultRule(rate_limited=0.5, reset_ms=1500)))

    with in_process_client(sandbox) as client:
        responses = [
            client.get(f"/api/v2/projects/alpha/environments/production?n={i}", headers=LD_HEADERS) for i in range(40)
        ]
    limited = [r for r in responses if r.status_code == 429]
    assert 10 < len(limited) < 30
    assert {r.status_code for r in responses} == {200, 429}
    now_ms = time.time() * 1000
    for response in limited:
        assert response.json()["code"] == "rate_limited"
        assert response.headers["X-Ratelimit-Route-Remaining"] == "0"
        assert "X-Ratelimit-Global-Remaining" in response.headers
        reset = int(response.headers["X-Ratelimit-Reset"])
        assert now_ms < reset < now_ms + 3000  # epoch milliseconds, about reset_ms ahead
    assert sandbox.counters().by_fault == {"rate_limited": len(limited)}
    assert sandbox.counters().by_status["429"] == len(limited)


def test_sentry_flavoured_429(unit_scenario: Scenario) -> None:

    sandbox = build_app(unit_scenario, faults=FaultPlan(default=FaultRule(rate_limited=1.0, reset_ms=2000)))
    with in_process_client(sandbox) as client:
        response = client.get("/api/0/organizations/acme/projects/", headers=SENTRY_HEADERS)
    assert response.status_code == 429
    assert response.json().startswith("You are attempting to use this endpoint too frequently.")
    assert response.headers["X-Sentry-Rate-Limit-Remaining"] == "0"
    reset = int(response.headers["X-Sentry-Rate-Limit-Reset"])
    assert time.time() < reset <= time.time() + 3  # epoch seconds
    assert "Retry-After" not in response.headers  # Sentry's middleware sends none (Sentry notes §6)


def test_server_errors_in_both_dialects(unit_scenario: Scenario) -> None:

    sandbox = build_app(unit_scenario, faults=FaultPlan(seed=3, default=FaultRule(server_errors=1.0)))
    with in_process_client(sandbox) as client:
        statuses = {client.get(f"/api/v2/projects?n={i}", headers=LD_HEADERS).status_code for i in range(30)}
        sentry = [client.get(f"/api/0/projects/acme/web/?n={i}", headers=SENTRY_HEADERS) for i in range(30)]
    assert statuses <= {500, 502, 503, 504} and len(statuses) > 1
    json_errors = [r for r in sentry if r.status_code == 500]
    assert json_errors and json_errors[0].json()["detail"] == "Internal Error"


def test_enforced_limits_answer_real_429s() -> None:

    sandbox = build_app(
        {
            "launchdarkly": {"tokens": [{"value": LD_TOKEN}], "rate_limit": {"route_limit": 3, "enforce": True}},
        }
    )
    with in_process_client(sandbox) as client:
        statuses = [client.get("/api/v2/projects", headers=LD_HEADERS).status_code for _ in range(5)]
        remaining = client.get("/api/v2/caller-identity", headers=LD_HEADERS).headers["X-Ratelimit-Route-Remaining"]
    assert statuses == [200, 200, 200, 429, 429]
    assert remaining == "2"  # routes have their own budgets


def test_latency_is_real_and_concurrent(unit: Sandbox) -> None:
    unit.set_faults(FaultPlan(default=FaultRule(latency_ms=200)))
    with serve_in_thread(unit) as server, server_client(server.url) as client:
        started = time.perf_counter()
        client.get("/api/v2/projects", headers=LD_HEADERS)
        single = time.perf_counter() - started
        with ThreadPoolExecutor(8) as pool:
            started = time.perf_counter()
            list(pool.map(lambda i: client.get(f"/api/v2/projects?n={i}", headers=LD_HEADERS), range(8)))
            parallel = time.perf_counter() - started
    assert single >= 0.2
    assert parallel < 0.2 * 3  # eight overlapping sleeps, not 1.6 s of serial ones
    assert unit.counters().peak_in_flight >= 4
    durations = [r.duration_ms for r in unit.requests()]
    assert min(durations) >= 200


def test_dropped_connections_close_without_a_response(unit: Sandbox) -> None:
    unit.set_faults(FaultPlan(routes=(FaultRule(prefix="/v2/event-data-import/", dropped=1.0),)))
    body = [{"kind": "custom", "key": "k", "creationDate": 1, "contextKeys": {"user": "u"}}]
    with serve_in_thread(unit) as server, server_client(server.url) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/v2/event-data-import/alpha/production", headers=IMPORT_HEADERS, json=body)
        # The server is still fine, and other routes are untouched.
        assert client.get("/api/v2/projects", headers=LD_HEADERS).status_code == 200
    dropped = unit.requests(path_prefix="/v2/")
    assert [(r.status, r.fault) for r in dropped] == [(None, "dropped")]
    assert unit.counters().by_status == {"dropped": 1, "200": 1}
    assert unit.imported_events() == []


def test_every_dropped_post_is_a_close_never_a_reset(unit: Sandbox) -> None:
    # Closing a socket whose request body is still arriving makes the kernel send a reset, which
    # httpx reports as ReadError (ECONNRESET); under uvloop that was about half of these drops.
    unit.set_faults(FaultPlan(routes=(FaultRule(prefix="/v2/event-data-import/", dropped=1.0),)))
    body = [{"kind": "custom", "key": f"k{i}", "creationDate": 1, "contextKeys": {"user": "u"}} for i in range(200)]
    with serve_in_thread(unit) as server:
        for _ in range(20):
            with server_client(server.url) as client, pytest.raises(httpx.RemoteProtocolError):
                client.post("/v2/event-data-import/alpha/production", headers=IMPORT_HEADERS, json=body)
    assert unit.counters().by_status == {"dropped": 20}


def test_dropped_connection_in_process_raises(unit: Sandbox) -> None:

    unit.set_faults(FaultPlan(default=FaultRule(dropped=1.0)))
    with in_process_client(unit) as client, pytest.raises(ConnectionDropped):
        client.get("/api/v2/projects", headers=LD_HEADERS)


def test_faults_can_be_swapped_at_runtime(unit: Sandbox) -> None:

    with in_process_client(unit) as client:
        assert client.get("/api/v2/projects", headers=LD_HEADERS).status_code == 200
        unit.set_faults(FaultPlan(default=FaultRule(rate_limited=1.0)))
        assert client.get("/api/v2/projects", headers=LD_HEADERS).status_code == 429
        unit.set_faults(FaultPlan())
        assert client.get("/api/v2/projects", headers=LD_HEADERS).status_code == 200
        # Admin routes are never faulted.
        unit.set_faults(FaultPlan(default=FaultRule(server_errors=1.0)))
        assert client.get("/_sandbox/health").status_code == 200
