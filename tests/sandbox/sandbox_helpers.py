"""Helpers for the sandbox tests: clients whose every response is checked against the contracts.

`check_response` runs on every response any sandbox test receives (an httpx response hook), so
the whole suite doubles as a contract sweep. Statuses a document does not declare for an
operation, and routes outside the documents, are accepted only when listed below, with the
reason; their bodies are still checked against the service's error shapes.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import ssl
from collections.abc import Mapping
from typing import Any

import httpx
from contracts import ContractError, match_operation, response_schema, validate_response, validate_schema
from emulator_support import LD_TOKEN, SENTRY_TOKEN

LD_HEADERS = {"Authorization": LD_TOKEN, "LD-API-Version": "20240415"}
SENTRY_HEADERS = {"Authorization": f"Bearer {SENTRY_TOKEN}"}
IMPORT_HEADERS = {
    "Authorization": LD_TOKEN,
    "X-LaunchDarkly-Event-Schema": "4",
    "User-Agent": "MetricImport-ldsentry-int/0.1",
}

GATEWAY_STATUSES = (502, 503, 504)  # injected load-balancer pages: HTML, no JSON contract

# Statuses served by every operation of a service though the documents list them only on some.
GLOBAL_ALLOWED = {
    # Rate limiting is global (launchdarkly-api.md §1.1, §3); 5xx are injected faults.
    ("launchdarkly", 429),
    ("launchdarkly", 500),
    # An unparseable LD-API-Version header is rejected on every route; getMetrics also answers 400
    # to an invalid filter or limit though its operation lists no 400.
    ("launchdarkly", 400),
    # Sentry authenticates before anything else; getProject and listOrganizationEvents omit 401.
    ("sentry", 401),
    ("sentry", 429),
    ("sentry", 500),
    # Operations outside the emulated subset (e.g. deleteProject) answer 405 in the sandbox.
    ("launchdarkly", 405),
    ("sentry", 405),
}
# Statuses one operation serves though its document omits them.
OPERATION_ALLOWED = {
    ("launchdarkly", "getMetrics", 403),  # the "forbidden" token: a role without metric access
    ("sentry", "listOrganizationEvents", 404),  # unknown organization or environment (Sentry notes §3)
    ("sentry", "listOrganizationEnvironments", 404),  # unknown organization
    ("sentry", "listOrganizationProjects", 400),  # invalid cursor or per_page
    ("sentry", "listProjectEvents", 400),  # invalid cursor, per_page or period
}
# LaunchDarkly error schemas by status (launchdarkly-api.md §0, "Error body").
LD_ERROR_SCHEMAS = {
    400: {"$ref": "#/components/schemas/InvalidRequestErrorRep"},
    401: {"$ref": "#/components/schemas/UnauthorizedErrorRep"},
    403: {"$ref": "#/components/schemas/ForbiddenErrorRep"},
    404: {"$ref": "#/components/schemas/NotFoundErrorRep"},
    405: {"$ref": "#/components/schemas/MethodNotAllowedErrorRep"},
    409: {"$ref": "#/components/schemas/StatusConflictErrorRep"},
    429: {"$ref": "#/components/schemas/RateLimitedErrorRep"},
    500: {"$ref": "#/components/schemas/InvalidRequestErrorRep"},  # the same {code, message} shape
}
SENTRY_DETAIL = {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}}
SENTRY_RATE_LIMITED = {"type": "string"}
SENTRY_ROOT = {
    "type": "object",
    "required": ["version", "auth", "user"],
    "properties": {
        "version": {"enum": ["0"]},
        "auth": {
            "anyOf": [
                {"type": "null"},
                {"type": "object", "required": ["scopes"], "properties": {"scopes": {"type": "array"}}},
            ]
        },
    },
}


# Sentry's flag change tracking endpoints are PRIVATE, so its public OpenAPI document lacks them; these
# are the shapes sentry-api.md §12 describes (src/sentry/flags/endpoints/hooks.py and secrets.py).
SENTRY_FLAG_SHAPES: dict[tuple[str, int], Any] = {
    ("POST hook", 200): {"type": ["object", "null"]},  # empty, or the serializer's errors (body dropped)
    ("POST hook", 401): {"enum": ["Not authorized."]},
    ("POST secrets", 201): {"type": "null"},  # 201 with no body
    ("POST secrets", 400): {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    # The scope check answers {"detail"}; replacing another creator's secret without org:write, a bare string.
    ("POST secrets", 403): {"anyOf": [{"type": "string"}, SENTRY_DETAIL]},
    ("GET secrets", 200): {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["createdAt", "createdBy", "id", "provider", "secret"],
                    "properties": {"secret": {"type": "string", "pattern": "^.{6}\\**$"}},
                },
            }
        },
    },
}


def _sentry_flag_route(method: str, path: str) -> str | None:
    if not path.startswith("/api/0/organizations/"):
        return None
    if "/flags/hooks/provider/" in path:
        return f"{method} hook"
    if path.endswith("/flags/signing-secrets/"):
        return f"{method} secrets"
    return None


def _spec_for(path: str) -> str | None:
    if path.startswith("/api/v2/"):
        return "launchdarkly"
    if path.startswith("/api/0/"):
        return "sentry"
    return None


def _error_shape(spec: str, status: int, body: Any, what: str) -> None:
    if spec == "sentry":
        schema = SENTRY_RATE_LIMITED if status == 429 else SENTRY_DETAIL
        validate_schema("sentry", schema, body, what)
    else:
        validate_schema("launchdarkly", LD_ERROR_SCHEMAS.get(status, LD_ERROR_SCHEMAS[400]), body, what)


def check_response(response: httpx.Response) -> None:
    """Validate one sandbox response against the contracts (or the explicit allowlists above)."""
    request = response.request
    path, method, status = request.url.path, request.method, response.status_code
    what = f"{method} {path} -> {status}"
    if status in GATEWAY_STATUSES:
        assert response.headers["content-type"].startswith("text/html"), what
        return
    body = response.json() if response.content else None
    if path.startswith("/_sandbox/"):
        # Admin routes: not an emulated API (README "Admin routes").
        assert isinstance(body, dict), what
        return
    if path.startswith("/v2/event-data-import/"):
        # The metric import API is not in LaunchDarkly's OpenAPI document (launchdarkly-api.md §4.5).
        if status == 202:
            assert not response.content, what
        else:
            _error_shape("launchdarkly", status, body, what)
        return
    if path == "/api/0/":
        # The API root is not in Sentry's OpenAPI document (Sentry notes §1).
        if status == 200:
            validate_schema("sentry", SENTRY_ROOT, body, what)
        else:
            _error_shape("sentry", status, body, what)
        return
    flag_route = _sentry_flag_route(method, path)
    if flag_route is not None:
        shape = SENTRY_FLAG_SHAPES.get((flag_route, status))
        if shape is None:
            _error_shape("sentry", status, body, what)  # 401 on auth, 404 on an unknown organization
        else:
            validate_schema("sentry", shape, body, what)
        return
    spec = _spec_for(path)
    assert spec is not None, f"{what}: not a sandbox API path"
    try:
        operation = match_operation(spec, method, path)
    except ContractError:
        # An operation the emulator does not serve (it is not in the trimmed documents): the service's
        # generic 404/405, or a fault injected before routing.
        assert status in (404, 405) or (spec, status) in GLOBAL_ALLOWED, what
        _error_shape(spec, status, body, what)
        return
    try:
        response_schema(spec, method, path, status)
    except ContractError:
        allowed = (spec, status) in GLOBAL_ALLOWED or (spec, operation.operation_id, status) in OPERATION_ALLOWED
        assert allowed, f"{what}: status not declared by {operation.operation_id} and not allowlisted"
        _error_shape(spec, status, body, what)
    else:
        validate_response(spec, method, path, status, body)
        if status >= 400:
            _error_shape(spec, status, body, what)


def _hook(response: httpx.Response) -> None:
    response.read()
    check_response(response)


class SyncAsgiTransport(httpx.BaseTransport):
    """Run an ASGI app in-process behind a synchronous httpx client (one private event loop)."""

    def __init__(self, app: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._inner = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            response = await self._inner.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._loop.run_until_complete(send())

    def close(self) -> None:
        self._loop.close()


def in_process_client(app: Any, *, checked: bool = True) -> httpx.Client:
    """A client calling the app in-process (no server, no sockets), its responses checked unless told not to."""
    return httpx.Client(
        transport=SyncAsgiTransport(app),
        base_url="http://sandbox.test",
        trust_env=False,
        event_hooks={"response": [_hook] if checked else []},
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Unused over plain http, but building httpx's default one costs ~60 ms per client.
    return ssl.create_default_context()


def server_client(base_url: str, **kwargs: Any) -> httpx.Client:
    """A checked client for a served sandbox."""
    return httpx.Client(
        base_url=base_url, trust_env=False, verify=_tls_context(), event_hooks={"response": [_hook]}, **kwargs
    )


BASE_SCENARIO: dict[str, Any] = {
    "name": "unit",
    "launchdarkly": {
        "tokens": [
            {"value": LD_TOKEN},
            {"value": "ld-reader", "access": "reader"},
            {"value": "ld-forbidden", "access": "none"},
        ],
        "projects": [
            {
                "key": "alpha",
                "name": "Alpha",
                "environments": ["production", "staging"],
                "metrics": [
                    {"key": "sentry-errors", "event_key": "sentry-errors"},
                    {"key": "old-errors", "event_key": "sentry-errors", "archived": True},
                    {
                        "key": "latency",
                        "event_key": "latency",
                        "is_numeric": True,
                        "success_criteria": "LowerThanBaseline",
                    },
                    {"key": "home", "kind": "pageview"},
                ],
            },
            {"key": "beta", "environments": ["production"]},
        ],
    },
    "sentry": {
        "organization": "acme",
        "tokens": [
            {"value": SENTRY_TOKEN},
            {"value": "sentry-org-only", "scopes": ["org:read"]},
            {"value": "sentry-ci", "scopes": ["org:ci"]},
        ],
        "projects": [
            {
                "slug": "web",
                "id": 11,
                "environments": ["production", "staging"],
                "hidden_environments": ["qa"],
                "events": [
                    {
                        "age": "30m",
                        "environment": "production",
                        "count": 3,
                        "contexts": {"launchdarklyContext": {"kind": "user", "key": "u1"}},
                    },
                    {"age": "3h", "environment": "production"},
                    {
                        "age": "2d",
                        "environment": "production",
                        "contexts": {"ld_context": {"kind": "user", "key": "u2"}},
                    },
                    {"age": "1h", "environment": "staging", "id": "0123456789abcdef0123456789abcdef"},
                ],
            },
            {"slug": "api", "id": 12, "environments": ["production"]},
        ],
    },
}


def scenario(**sections: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of BASE_SCENARIO with top-level sections merged in (shallowly, per section)."""
    result = copy.deepcopy(BASE_SCENARIO)
    for name, value in sections.items():
        if isinstance(value, Mapping) and isinstance(result.get(name), dict):
            result[name] = {**result[name], **copy.deepcopy(dict(value))}
        else:
            result[name] = copy.deepcopy(value)
    return result
