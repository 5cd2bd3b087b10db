"""The request log and counters (in-process and over the admin routes), reset, and the server helper."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sandbox_helpers import IMPORT_HEADERS, LD_HEADERS, SENTRY_HEADERS, server_client

from ld_sentry_cli.sandbox import RunningServer, Sandbox, build_app, demo_scenario_path, serve_in_thread, start_server
from ld_sentry_cli.sandbox.scenario import Scenario


def test_request_log_records_what_was_asked_and_answered(unit: Sandbox, client: httpx.Client) -> None:
    client.get("/api/v2/metrics/alpha?limit=5", headers={**LD_HEADERS, "User-Agent": "ldsentry/1.0"})
    client.get("/api/v2/projects", headers={"Authorization": LD_HEADERS["Authorization"]})
    client.get("/api/0/projects/acme/web/", headers=SENTRY_HEADERS)
    client.get("/api/0/projects/acme/nope/", headers=SENTRY_HEADERS)
    client.get("/_sandbox/health")  # admin routes stay out of the log
    first, second, third, fourth = unit.requests()
    assert (first.method, first.path, first.query, first.status) == ("GET", "/api/v2/metrics/alpha", "limit=5", 200)
    assert first.route == "/api/v2/metrics/{projectKey}" and first.service == "launchdarkly"
    assert first.ld_api_version == "20240415" and first.user_agent == "ldsentry/1.0"
    assert second.ld_api_version is None
    assert third.route == "/api/0/projects/{organization_id_or_slug}/{project_id_or_slug}/"
    assert fourth.status == 404 and fourth.fault is None
    assert all(r.duration_ms >= 0 and r.started_at > 0 for r in unit.requests())
    assert unit.requests(service="sentry") == [third, fourth]
    counters = unit.counters()
    assert counters.total == 4 and counters.by_status == {"200": 3, "404": 1}
    assert counters.by_endpoint["GET /api/0/projects/{organization_id_or_slug}/{project_id_or_slug}/"] == 2
    assert counters.by_service == {"launchdarkly": 2, "sentry": 2} and counters.in_flight == 0


def test_no_secret_reaches_the_log(unit: Sandbox, client: httpx.Client) -> None:
    client.get("/api/v2/projects/alpha/environments/production", headers=LD_HEADERS)
    client.get("/api/0/", headers=SENTRY_HEADERS)
    dumped = client.get("/_sandbox/requests").text
    assert "sandbox-ld-token" not in dumped and "sandbox-sentry-token" not in dumped
    assert "sdk-" not in dumped


def test_admin_routes_expose_log_counters_imports_and_faults(unit: Sandbox, client: httpx.Client) -> None:
    client.get("/api/v2/projects", headers=LD_HEADERS)
    event = {"kind": "custom", "key": "sentry-errors", "creationDate": 1, "contextKeys": {"user": "u"}}
    client.post(
        "/v2/event-data-import/alpha/production",
        headers={**IMPORT_HEADERS, "X-LaunchDarkly-Payload-ID": "p-1"},
        json=[event],
    )
    log = client.get("/_sandbox/requests").json()
    assert [r["path"] for r in log["requests"]] == ["/api/v2/projects", "/v2/event-data-import/alpha/production"]
    assert log["counters"]["total"] == 2
    assert client.get("/_sandbox/requests?path_prefix=/v2/").json()["requests"][0]["status"] == 202
    assert client.get("/_sandbox/counters").json()["by_status"] == {"200": 1, "202": 1}
    imported = client.get("/_sandbox/imported-events").json()["events"]
    assert imported == [
        {
            "projectKey": "alpha",
            "environmentKey": "production",
            "payloadId": "p-1",
            "event": event,
            "receivedAt": imported[0]["receivedAt"],
        }
    ]
    plan = {"seed": 5, "rate_limited": 1.0, "routes": [{"prefix": "/api/0/", "rate_limited": 0.0}]}
    assert client.put("/_sandbox/faults", json=plan).status_code == 200
    assert client.get("/_sandbox/faults").json()["rate_limited"] == 1.0
    assert client.get("/api/v2/projects", headers=LD_HEADERS).status_code == 429
    assert client.get("/api/0/", headers=SENTRY_HEADERS).status_code == 200
    bad = client.put("/_sandbox/faults", json={"dropped": 3})
    assert bad.status_code == 400 and "faults.dropped" in bad.json()["error"]
    assert client.get("/_sandbox/nope").status_code == 404


def test_reset_restores_seeded_data_and_clears_the_log(unit: Sandbox, client: httpx.Client) -> None:
    body = {"key": "new", "kind": "custom", "eventKey": "sentry-errors"}
    assert client.post("/api/v2/metrics/beta", headers=LD_HEADERS, json=body).status_code == 201
    assert unit.metric_keys("beta") == ["new"]
    assert client.post("/_sandbox/reset").json() == {"ok": True}
    assert unit.metric_keys("beta") == []
    assert unit.requests() == [] and unit.counters().total == 0
    unit.reset()
    assert client.post("/api/v2/metrics/beta", headers=LD_HEADERS, json=body).status_code == 201


def test_serve_in_thread_binds_a_free_loopback_port_and_stops_fast(unit: Sandbox) -> None:
    threads_before = threading.active_count()
    with serve_in_thread(unit) as first, serve_in_thread(unit) as second:
        assert first.url.startswith("http://127.0.0.1:") and first.port != second.port
        with server_client(first.url) as client:
            assert client.get("/_sandbox/health").json()["scenario"] == "unit"
            # Keep a connection open: stopping must not wait for the client to go away.
            assert client.get("/api/v2/projects", headers=LD_HEADERS).status_code == 200
            started = time.perf_counter()
            first.stop()
            assert time.perf_counter() - started < 0.5
        with server_client(second.url) as client:
            assert client.get("/api/0/", headers=SENTRY_HEADERS).status_code == 200
    assert threading.active_count() == threads_before
    with server_client(first.url) as client:
        try:
            client.get("/_sandbox/health", timeout=1)
            refused = False
        except httpx.ConnectError:
            refused = True
    assert refused


def test_start_server_and_stop_without_a_context_manager(unit_scenario: Scenario) -> None:
    server: RunningServer = start_server(build_app(unit_scenario))
    try:
        with server_client(server.url) as client:
            assert client.get("/api/v2/caller-identity", headers=LD_HEADERS).status_code == 200
    finally:
        server.stop()
    server.stop()  # idempotent


def test_module_entry_point_serves_a_scenario_and_prints_its_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "ld_sentry_cli.sandbox", "--scenario", str(demo_scenario_path())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with server_client(url) as client:
            deadline = time.monotonic() + 10
            while True:
                try:
                    health = client.get("/_sandbox/health")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            assert health.json()["scenario"] == "demo"
            assert client.get("/api/v2/projects", headers=LD_HEADERS).json()["totalCount"] == 3
    finally:
        process.terminate()
        process.wait(10)


def test_module_entry_point_reports_bad_scenarios(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[launchdarkly]\ntokens = 3\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "ld_sentry_cli.sandbox", "--scenario", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "launchdarkly.tokens: must be an array of tables" in result.stderr
