"""A sweep of every route, success and error statuses, each response checked against the contracts.

The checking itself is the response hook in sandbox_helpers (it runs for every sandbox test);
this table makes sure every route and every status family is exercised at least once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sandbox_helpers import IMPORT_HEADERS, LD_HEADERS, SENTRY_HEADERS, in_process_client

from ld_sentry_cli.sandbox import FaultPlan, FaultRule, Sandbox, build_app
from ld_sentry_cli.sandbox.scenario import Scenario

FORBIDDEN_LD = {"Authorization": "ld-forbidden"}
BAD_LD = {"Authorization": "nope"}
ORG_ONLY = {"Authorization": "Bearer sentry-org-only"}
CI_ONLY = {"Authorization": "Bearer sentry-ci"}
BAD_SENTRY = {"Authorization": "Bearer nope"}
METRIC = {"key": "new-metric", "kind": "custom", "eventKey": "sentry-errors", "isNumeric": False}
IMPORTED = [{"kind": "custom", "key": "sentry-errors", "creationDate": 1, "contextKeys": {"user": "u"}}]
EVENT = "0123456789abcdef0123456789abcdef"
WEBHOOK = {"url": "http://127.0.0.1:9/hook", "sign": True, "on": True, "tags": ["ldsentry"]}
SECRETS = "/api/0/organizations/acme/flags/signing-secrets/"
HOOK = "/api/0/organizations/acme/flags/hooks/provider/launchdarkly/"
EXPLORE = "/api/0/organizations/acme/events/?dataset=errors&field=id&field=timestamp&statsPeriod=24h"

# (method, path, headers, JSON body, expected status)
SWEEP: list[tuple[str, str, dict[str, str], Any, int]] = [
    ("GET", "/api/v2/caller-identity", LD_HEADERS, None, 200),
    ("GET", "/api/v2/caller-identity", BAD_LD, None, 401),
    ("GET", "/api/v2/projects", LD_HEADERS, None, 200),
    ("GET", "/api/v2/projects?expand=environments&limit=1&offset=1", LD_HEADERS, None, 200),
    ("GET", "/api/v2/projects?filter=bogus:1", LD_HEADERS, None, 400),
    ("GET", "/api/v2/projects", BAD_LD, None, 401),
    ("GET", "/api/v2/projects", FORBIDDEN_LD, None, 403),
    ("GET", "/api/v2/projects/alpha", LD_HEADERS, None, 200),
    ("GET", "/api/v2/projects/alpha?expand=environments", LD_HEADERS, None, 200),
    ("GET", "/api/v2/projects/nope", LD_HEADERS, None, 404),
    ("GET", "/api/v2/projects/alpha", FORBIDDEN_LD, None, 403),
    ("GET", "/api/v2/projects/alpha", BAD_LD, None, 401),
    ("GET", "/api/v2/projects/alpha/environments", LD_HEADERS, None, 200),
    ("GET", "/api/v2/projects/nope/environments", LD_HEADERS, None, 404),
    ("GET", "/api/v2/projects/alpha/environments?limit=x", LD_HEADERS, None, 400),
    ("GET", "/api/v2/projects/alpha/environments", FORBIDDEN_LD, None, 403),
    ("GET", "/api/v2/projects/alpha/environments/production", LD_HEADERS, None, 200),
    ("GET", "/api/v2/projects/alpha/experimentation-settings", LD_HEADERS, None, 200),
    ("GET", "/api/v2/projects/nope/experimentation-settings", LD_HEADERS, None, 404),
    ("GET", "/api/v2/projects/alpha/experimentation-settings", FORBIDDEN_LD, None, 403),
    ("GET", "/api/v2/projects?filter=keys:alpha|nope&expand=environments", LD_HEADERS, None, 200),
    ("GET", "/api/v2/metrics/alpha?filter=eventKeys%20anyOf%20%5B%22sentry-errors%22%5D", LD_HEADERS, None, 200),
    ("GET", "/api/v2/projects/alpha/environments/nope", LD_HEADERS, None, 404),
    ("GET", "/api/v2/projects/alpha/environments/production", BAD_LD, None, 401),
    ("GET", "/api/v2/metrics/alpha", LD_HEADERS, None, 200),
    ("GET", "/api/v2/metrics/alpha?filter=eventKind%20equals%20custom&limit=2&offset=1", LD_HEADERS, None, 200),
    ("GET", "/api/v2/metrics/nope", LD_HEADERS, None, 404),
    ("GET", "/api/v2/metrics/alpha", BAD_LD, None, 401),
    ("GET", "/api/v2/metrics/alpha", FORBIDDEN_LD, None, 403),
    ("GET", "/api/v2/metrics/alpha?filter=nonsense", LD_HEADERS, None, 400),
    ("GET", "/api/v2/metrics/alpha/sentry-errors", LD_HEADERS, None, 200),
    ("GET", "/api/v2/metrics/alpha/old-errors", LD_HEADERS, None, 200),
    ("GET", "/api/v2/metrics/alpha/home", LD_HEADERS, None, 200),
    ("GET", "/api/v2/metrics/alpha/nope", LD_HEADERS, None, 404),
    ("GET", "/api/v2/metrics/alpha/sentry-errors", FORBIDDEN_LD, None, 403),
    ("POST", "/api/v2/metrics/alpha", LD_HEADERS, METRIC, 201),
    (
        "POST",
        "/api/v2/metrics/alpha",
        LD_HEADERS,
        {**METRIC, "key": "newer", "analysisUnits": ["user"], "eventDefault": {"disabled": False, "value": 0}},
        201,
    ),
    ("POST", "/api/v2/metrics/alpha", LD_HEADERS, {**METRIC, "key": "sentry-errors"}, 409),
    ("POST", "/api/v2/metrics/alpha", LD_HEADERS, {"kind": "custom"}, 400),
    ("POST", "/api/v2/metrics/nope", LD_HEADERS, METRIC, 404),
    ("POST", "/api/v2/metrics/alpha", {"Authorization": "ld-reader"}, METRIC, 403),
    ("POST", "/api/v2/metrics/alpha", BAD_LD, METRIC, 401),
    ("GET", "/api/v2/flags/alpha", LD_HEADERS, None, 404),
    ("POST", "/v2/event-data-import/alpha/production", IMPORT_HEADERS, IMPORTED, 202),
    ("POST", "/v2/event-data-import/alpha/production", {**IMPORT_HEADERS, "Authorization": "x"}, IMPORTED, 401),
    ("POST", "/v2/event-data-import/alpha/production", IMPORT_HEADERS, {"not": "a list"}, 400),
    ("POST", "/v2/event-data-import/alpha/nope", IMPORT_HEADERS, IMPORTED, 404),
    ("GET", "/api/0/", SENTRY_HEADERS, None, 200),
    ("GET", "/api/0/", BAD_SENTRY, None, 401),
    ("GET", "/api/0/organizations/acme/", SENTRY_HEADERS, None, 200),
    ("GET", "/api/0/organizations/acme/", BAD_SENTRY, None, 401),
    ("GET", "/api/0/organizations/acme/", CI_ONLY, None, 403),
    ("GET", "/api/0/organizations/nope/", SENTRY_HEADERS, None, 404),
    ("GET", "/api/0/organizations/acme/projects/", SENTRY_HEADERS, None, 200),
    ("GET", "/api/0/organizations/acme/projects/?per_page=1&cursor=1:1:0", SENTRY_HEADERS, None, 200),
    ("GET", "/api/0/organizations/acme/projects/", BAD_SENTRY, None, 401),
    ("GET", "/api/0/organizations/acme/projects/", CI_ONLY, None, 403),
    ("GET", "/api/0/organizations/nope/projects/", SENTRY_HEADERS, None, 404),
    ("GET", "/api/0/organizations/acme/projects/?cursor=bad", SENTRY_HEADERS, None, 400),
    ("GET", "/api/0/organizations/acme/environments/", SENTRY_HEADERS, None, 200),
    ("GET", "/api/0/organizations/acme/environments/?visibility=bad", SENTRY_HEADERS, None, 400),
    ("GET", "/api/0/organizations/acme/environments/", CI_ONLY, None, 403),
    ("GET", "/api/0/organizations/nope/environments/", SENTRY_HEADERS, None, 404),
    ("GET", "/api/0/projects/acme/web/", SENTRY_HEADERS, None, 200),
    ("GET", "/api/0/projects/acme/web/", ORG_ONLY, None, 403),
    ("GET", "/api/0/projects/acme/web/", BAD_SENTRY, None, 401),
    ("GET", "/api/0/projects/acme/nope/", SENTRY_HEADERS, None, 404),
    ("GET", "/api/0/projects/acme/web/environments/?visibility=all", SENTRY_HEADERS, None, 200),
    ("GET", "/api/0/projects/acme/web/environments/?visibility=bad", SENTRY_HEADERS, None, 400),
    ("GET", "/api/0/projects/acme/web/environments/", ORG_ONLY, None, 403),
    ("GET", "/api/0/projects/acme/nope/environments/", SENTRY_HEADERS, None, 404),
    ("GET", "/api/0/projects/acme/web/environments/", BAD_SENTRY, None, 401),
    ("GET", "/api/0/projects/acme/web/events/?statsPeriod=24h", SENTRY_HEADERS, None, 200),
    ("GET", "/api/0/projects/acme/web/events/?full=true&per_page=2", SENTRY_HEADERS, None, 200),
    ("GET", "/api/0/projects/acme/web/events/?per_page=0", SENTRY_HEADERS, None, 400),
    ("GET", "/api/0/projects/acme/web/events/", ORG_ONLY, None, 403),
    ("GET", "/api/0/projects/acme/nope/events/", SENTRY_HEADERS, None, 404),
    ("GET", f"/api/0/projects/acme/web/events/{EVENT}/", SENTRY_HEADERS, None, 200),
    ("GET", f"/api/0/projects/acme/web/events/{EVENT}/", ORG_ONLY, None, 403),
    ("GET", f"/api/0/projects/acme/web/events/{EVENT}/", BAD_SENTRY, None, 401),
    ("GET", f"/api/0/projects/acme/api/events/{EVENT}/", SENTRY_HEADERS, None, 404),
    ("GET", EXPLORE, SENTRY_HEADERS, None, 200),
    (
        "GET",
        EXPLORE + "&field=project.id&field=environment&environment=production&project=11&sort=-timestamp",
        SENTRY_HEADERS,
        None,
        200,
    ),
    ("GET", EXPLORE + "&environment=nowhere", SENTRY_HEADERS, None, 404),
    ("GET", EXPLORE + "&sort=title", SENTRY_HEADERS, None, 400),
    ("GET", EXPLORE, CI_ONLY, None, 403),
    ("GET", EXPLORE, BAD_SENTRY, None, 401),
    ("GET", "/api/0/organizations/acme/releases/", SENTRY_HEADERS, None, 404),
    # Flag change tracking: LaunchDarkly webhooks (in the contract) and Sentry's flag endpoints (private,
    # checked against sentry-api.md §12's shapes in sandbox_helpers). Ordered: the webhook is created first.
    ("POST", "/api/v2/webhooks", LD_HEADERS, WEBHOOK, 200),
    ("POST", "/api/v2/webhooks", LD_HEADERS, {"url": "http://127.0.0.1/x"}, 400),
    ("POST", "/api/v2/webhooks", {"Authorization": "ld-reader"}, WEBHOOK, 403),
    ("POST", "/api/v2/webhooks", BAD_LD, WEBHOOK, 401),
    ("GET", "/api/v2/webhooks", LD_HEADERS, None, 200),
    ("GET", "/api/v2/webhooks", FORBIDDEN_LD, None, 403),
    ("GET", "/api/v2/webhooks/nope", LD_HEADERS, None, 404),
    ("PATCH", "/api/v2/webhooks/nope", LD_HEADERS, [{"op": "replace", "path": "/on", "value": False}], 404),
    ("PATCH", "/api/v2/webhooks/nope", {"Authorization": "ld-reader"}, [], 403),
    ("DELETE", "/api/v2/webhooks/nope", LD_HEADERS, None, 404),
    ("POST", SECRETS, SENTRY_HEADERS, {"provider": "launchdarkly", "secret": "a" * 32}, 201),
    ("POST", SECRETS, SENTRY_HEADERS, {"provider": "launchdarkly", "secret": "short"}, 400),
    ("POST", SECRETS, BAD_SENTRY, {"provider": "launchdarkly", "secret": "a" * 32}, 401),
    ("POST", SECRETS, CI_ONLY, {"provider": "launchdarkly", "secret": "a" * 32}, 403),
    ("GET", SECRETS, SENTRY_HEADERS, None, 200),
    ("GET", "/api/0/organizations/nope/flags/signing-secrets/", SENTRY_HEADERS, None, 404),
    ("POST", HOOK, {}, {"name": "f"}, 401),
    ("POST", "/api/0/organizations/acme/flags/hooks/provider/unknown/", {}, {}, 404),
]


@pytest.fixture(scope="module")
def swept(unit_scenario: Scenario) -> Iterator[httpx.Client]:
    """One sandbox for the whole sweep (its POSTs are ordered: 201 before 409)."""
    with in_process_client(build_app(unit_scenario)) as client:
        yield client


@pytest.mark.parametrize(("method", "path", "headers", "body", "status"), SWEEP)
def test_sweep(swept: httpx.Client, method: str, path: str, headers: dict[str, str], body: Any, status: int) -> None:
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    assert swept.request(method, path, **kwargs).status_code == status


def test_every_sandbox_route_is_swept(unit: Sandbox) -> None:
    swept_paths = {(method, path.split("?")[0]) for method, path, *_ in SWEEP}
    matched = set()
    for route in unit.routes:
        template = getattr(route, "path", "")
        if template.startswith("/_sandbox/"):
            continue  # covered by the admin tests
        for method, path in swept_paths:
            if (
                method in getattr(route, "methods", set())
                and route.matches({"type": "http", "path": path, "method": method})[0].name == "FULL"
            ):
                matched.add((method, template))
    expected = {
        (method, getattr(route, "path", ""))
        for route in unit.routes
        if not getattr(route, "path", "").startswith("/_sandbox/")
        for method in getattr(route, "methods", set()) - {"HEAD"}
    }
    assert matched == expected


@pytest.mark.parametrize("status_kind", ["rate_limited", "server_errors"])
def test_injected_faults_also_fit_the_contracts(unit_scenario: Scenario, status_kind: str) -> None:
    rule = FaultRule(rate_limited=1.0) if status_kind == "rate_limited" else FaultRule(server_errors=1.0)
    injected = {429} if status_kind == "rate_limited" else {500, 502, 503, 504}
    sandbox = build_app(unit_scenario, faults=FaultPlan(seed=11, default=rule))
    with in_process_client(sandbox) as client:
        for method, path, headers, body, _ in SWEEP[::3]:
            kwargs: dict[str, Any] = {"headers": headers} | ({"json": body} if body is not None else {})
            assert client.request(method, path, **kwargs).status_code in injected, (method, path)
