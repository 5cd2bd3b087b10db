"""The LaunchDarkly REST routes ldsentry uses: caller identity, projects, environments, metrics.

Status codes and bodies follow launchdarkly-openapi.json (launchdarkly-api.md §1, §2): auth first
(401/403), then the resource (404), then the request (400), then conflicts (409).
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ld_sentry_cli.sandbox.auth import ld_require, ld_token
from ld_sentry_cli.sandbox.durations import epoch_ms, utc_now
from ld_sentry_cli.sandbox.errors import LdApiError, invalid_request, ld_json_body
from ld_sentry_cli.sandbox.ids import hex_id, uuid_from
from ld_sentry_cli.sandbox.ld_payloads import (
    caller_identity_rep,
    environment_rep,
    environments_collection,
    experimentation_settings_rep,
    metric_json,
    metrics_collection_json,
    page_links,
    project_rep,
)
from ld_sentry_cli.sandbox.ld_world import LdProjectState, MetricRecord
from ld_sentry_cli.sandbox.route_group import RouteGroup
from ld_sentry_cli.sandbox.scenario import (
    HOSTED_DATA_SOURCE,
    METRIC_KINDS,
    SUCCESS_CRITERIA,
    UNIT_AGGREGATION_TYPES,
    LdToken,
)

DEFAULT_LIMIT = 20
METRICS_MAX_LIMIT = 50  # getMetrics: "Defaults to 20. Maximum limit is 50."
_API_VERSION = re.compile(r"^(beta|\d{8})$")
_METRIC_FILTER = re.compile(r"^\s*([A-Za-z]+)\s+([A-Za-z]+)\s+(.+?)\s*$")


def _json_response(body: bytes, status_code: int = 200) -> Response:
    """Serialised JSON, with the headers JSONResponse would send."""
    return Response(body, status_code=status_code, media_type="application/json")


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_request(f"{name} must be an integer") from None
    if value < 0:
        raise invalid_request(f"{name} must not be negative")
    return value


def _expand(request: Request) -> set[str]:
    return {part.strip() for part in request.query_params.get("expand", "").split(",") if part.strip()}


def _kept_params(request: Request, *names: str) -> dict[str, str]:
    return {name: request.query_params[name] for name in names if name in request.query_params}


class _Sortable(Protocol):
    name: str
    created_ms: int


_SortableT = TypeVar("_SortableT", bound=_Sortable)


def _sort(items: list[_SortableT], sort: str | None, created_field: str, choices: str) -> None:
    """Apply `sort=[-]name` or `sort=[-]<created_field>` in place; each collection names its creation field."""
    if not sort:
        return
    field = sort.lstrip("-")
    if field not in ("name", created_field):
        raise invalid_request(f"Unsupported sort field {field!r}: use {choices}")
    items.sort(key=(lambda item: item.name.lower()) if field == "name" else (lambda item: item.created_ms))
    if sort.startswith("-"):
        items.reverse()


def _split_filters(text: str) -> list[str]:
    """Split a filter on top-level commas (not inside `[...]` or quotes)."""
    parts, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "[":
            depth += 1
        elif not quoted and char == "]":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


class LaunchDarklyApi(RouteGroup):
    """The LaunchDarkly REST routes: caller identity, projects, environments, metrics."""

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes."""
        return [
            Route("/api/v2/caller-identity", self.caller_identity, methods=["GET"]),
            Route("/api/v2/projects", self.list_projects, methods=["GET"]),
            Route("/api/v2/projects/{projectKey}", self.get_project, methods=["GET"]),
            Route("/api/v2/projects/{projectKey}/environments", self.list_environments, methods=["GET"]),
            Route(
                "/api/v2/projects/{projectKey}/experimentation-settings",
                self.experimentation_settings,
                methods=["GET"],
            ),
            Route(
                "/api/v2/projects/{projectKey}/environments/{environmentKey}",
                self.get_environment,
                methods=["GET"],
            ),
            Route("/api/v2/metrics/{projectKey}", self.list_metrics, methods=["GET"]),
            Route("/api/v2/metrics/{projectKey}", self.create_metric, methods=["POST"]),
            Route("/api/v2/metrics/{projectKey}/{metricKey}", self.get_metric, methods=["GET"]),
        ]

    def _authorise(self, request: Request, *, write: bool = False, allow_forbidden: bool = False) -> LdToken:
        token = ld_token(self.ld, request)
        version = request.headers.get("ld-api-version")
        if version is not None and not _API_VERSION.match(version):
            raise invalid_request(f"Invalid LD-API-Version {version!r}: use a version such as 20240415, or beta")
        if not allow_forbidden:
            ld_require(token, write=write)
        return token

    def _project(self, request: Request) -> LdProjectState:
        project = self.ld.project(request.path_params["projectKey"])
        if project is None:
            raise LdApiError(404, "not_found", "Invalid resource identifier")
        return project

    async def caller_identity(self, request: Request) -> Response:
        """GET /api/v2/caller-identity (no 403 in the spec: any valid token may ask who it is)."""
        token = self._authorise(request, allow_forbidden=True)
        return JSONResponse(caller_identity_rep(self.ld, token))

    async def list_projects(self, request: Request) -> Response:
        """GET /api/v2/projects with limit/offset, filter (query, tags, keys), sort, expand."""
        self._authorise(request)
        limit = _int_param(request, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
        offset = _int_param(request, "offset", 0)
        projects = list(self.ld.projects.values())
        for term in _split_filters(request.query_params.get("filter", "")):
            field, _, value = term.partition(":")
            field = field.strip()
            if field == "query":
                projects = [p for p in projects if value.lower() in p.key.lower() or value.lower() in p.name.lower()]
            elif field == "tags":
                wanted = {tag for tag in value.split("+") if tag}
                projects = [p for p in projects if wanted <= set(p.tags)]
            elif field == "keys":
                # The scenario decides what this server does with the filter (scenario.FILTER_BEHAVIOURS).
                if self.ld.project_keys_filter == "rejected":
                    raise invalid_request("Unsupported filter field 'keys': use query or tags")
                if self.ld.project_keys_filter == "honoured":
                    keys = set(value.split("|"))
                    projects = [p for p in projects if p.key in keys]
            else:
                raise invalid_request(f"Unsupported filter field {field!r}: use query, tags or keys")
        _sort(projects, request.query_params.get("sort"), "createdOn", "name or createdOn")
        expand = "environments" in _expand(request)
        params = _kept_params(request, "filter", "sort", "expand")
        return JSONResponse(
            {
                "_links": page_links("/api/v2/projects", params, offset, limit, len(projects)),
                "items": [project_rep(p, with_environments=expand) for p in projects[offset : offset + limit]],
                "totalCount": len(projects),
            }
        )

    async def get_project(self, request: Request) -> Response:
        """GET /api/v2/projects/{projectKey}; environments only with expand=environments."""
        self._authorise(request)
        project = self._project(request)
        return JSONResponse(project_rep(project, with_environments="environments" in _expand(request)))

    async def list_environments(self, request: Request) -> Response:
        """GET /api/v2/projects/{projectKey}/environments with limit/offset."""
        self._authorise(request)
        project = self._project(request)
        limit = _int_param(request, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
        offset = _int_param(request, "offset", 0)
        return JSONResponse(environments_collection(project, offset, limit, _kept_params(request, "filter", "sort")))

    async def get_environment(self, request: Request) -> Response:
        """GET /api/v2/projects/{projectKey}/environments/{environmentKey} (404 for either unknown)."""
        self._authorise(request)
        project = self._project(request)
        env = project.environment(request.path_params["environmentKey"])
        if env is None:
            raise LdApiError(404, "not_found", "Invalid resource identifier")
        return JSONResponse(environment_rep(project, env))

    async def list_metrics(self, request: Request) -> Response:
        """GET /api/v2/metrics/{projectKey}: limit (20, at most 50), offset, filter, sort."""
        self._authorise(request)
        project = self._project(request)
        limit = min(_int_param(request, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT, METRICS_MAX_LIMIT)
        offset = _int_param(request, "offset", 0)
        metrics = list(project.metrics.values())
        # Split once per request, and skip the scan when there is nothing to match (the usual case).
        terms = self._event_keys_terms(_split_filters(request.query_params.get("filter", "")))
        if terms:
            metrics = [m for m in metrics if all(_matches(m, term) for term in terms)]
        _sort(metrics, request.query_params.get("sort"), "createdAt", "createdAt or name")
        params = _kept_params(request, "filter", "sort", "expand")
        return _json_response(metrics_collection_json(project, metrics, offset, limit, params))

    def _event_keys_terms(self, terms: list[str]) -> list[str]:
        """The filter terms this server applies: `eventKeys` as the scenario says (scenario.FILTER_BEHAVIOURS)."""
        behaviour = self.ld.event_keys_filter
        if behaviour == "honoured":
            return terms
        event_keys = [term for term in terms if term.strip().startswith("eventKeys ")]
        if event_keys and behaviour == "rejected":
            raise invalid_request("Unsupported filter eventKeys anyOf")
        return [term for term in terms if term not in event_keys]

    async def experimentation_settings(self, request: Request) -> Response:
        """GET /api/v2/projects/{projectKey}/experimentation-settings: the kinds available for experiments."""
        self._authorise(request)
        return JSONResponse(experimentation_settings_rep(self._project(request)))

    async def get_metric(self, request: Request) -> Response:
        """GET /api/v2/metrics/{projectKey}/{metricKey} (the metric key, not the event key)."""
        self._authorise(request)
        project = self._project(request)
        metric = project.metrics.get(request.path_params["metricKey"])
        if metric is None:
            raise LdApiError(404, "not_found", "Invalid resource identifier")
        return _json_response(metric_json(project, metric))

    async def create_metric(self, request: Request) -> Response:
        """POST /api/v2/metrics/{projectKey}: 201 MetricRep, 400 invalid body, 409 duplicate key."""
        token = self._authorise(request, write=True)
        project = self._project(request)
        body = await ld_json_body(request)
        if project.older_instance and isinstance(body, dict) and "analysisUnits" in body:
            # An instance older than the rename (launchdarkly-api.md §1.7) knows only randomizationUnits.
            raise invalid_request("Invalid field analysisUnits: unknown property")
        record = _metric_from_post(project.key, body)
        record.maintainer_id = token.member_id
        if not self.ld.add_metric(project, record):
            # Unverified which status a duplicate key gets; 409 is the likely one (launchdarkly-api.md §6).
            raise LdApiError(409, "optimistic_locking_error", f"A metric with key {record.key!r} already exists")
        return _json_response(metric_json(project, record), status_code=201)


def _matches(metric: MetricRecord, term: str) -> bool:
    """One `<field> <operator> <value>` filter term (launchdarkly-api.md §1.1)."""
    match = _METRIC_FILTER.match(term)
    if match is None:
        raise invalid_request(f"Invalid filter {term.strip()!r}: expected '<field> <operator> <value>'")
    field, operator, value = match.groups()
    supported = {
        ("eventKind", "equals"),
        ("isNumeric", "equals"),
        ("unitAggregationType", "equals"),
        ("query", "equals"),
        ("eventKeys", "anyOf"),
        ("tags", "contains"),
    }
    if (field, operator) not in supported:
        raise invalid_request(f"Unsupported filter {field} {operator}")
    if field == "eventKind":
        return metric.kind == value
    if field == "isNumeric":
        if value not in ("true", "false"):
            raise invalid_request("isNumeric filter takes true or false")
        return bool(metric.is_numeric) is (value == "true")
    if field == "unitAggregationType":
        return metric.unit_aggregation_type == value
    if field == "query":
        needle = value.strip('"').lower()
        return needle in metric.key.lower() or needle in metric.name.lower()
    try:
        wanted = json.loads(value)
    except ValueError:
        raise invalid_request(f'{field} {operator} takes a JSON list such as ["a"]') from None
    if not isinstance(wanted, list):
        raise invalid_request(f'{field} {operator} takes a JSON list such as ["a"]')
    if field == "eventKeys":
        return metric.event_key in wanted
    return set(wanted) <= set(metric.tags)


def _metric_from_post(project_key: str, body: Any) -> MetricRecord:
    """Validate a `MetricPost` body (required: key, kind) into a new record."""
    if not isinstance(body, dict):
        raise invalid_request("Invalid request body: expected a JSON object")
    key, kind = body.get("key"), body.get("kind")
    if not isinstance(key, str) or not key:
        raise invalid_request("key is required")
    if kind not in METRIC_KINDS:
        raise invalid_request(f"kind is required and must be one of {', '.join(METRIC_KINDS)}")
    strings = ("name", "description", "eventKey", "successCriteria", "unit", "unitAggregationType", "selector")
    for name in strings:
        if name in body and not isinstance(body[name], str):
            raise invalid_request(f"{name} must be a string")
    for name in ("tags", "randomizationUnits", "analysisUnits"):
        if name in body and not (isinstance(body[name], list) and all(isinstance(v, str) for v in body[name])):
            raise invalid_request(f"{name} must be an array of strings")
    if "isNumeric" in body and not isinstance(body["isNumeric"], bool):
        raise invalid_request("isNumeric must be a boolean")
    is_numeric = bool(body.get("isNumeric", False))
    if kind == "custom":
        if not body.get("eventKey"):
            raise invalid_request("eventKey is required for custom metrics")
        if is_numeric and "successCriteria" not in body:
            raise invalid_request("successCriteria is required for numeric metrics")
    elif kind == "click" and not body.get("selector"):
        raise invalid_request("selector is required for click metrics")
    if kind in ("click", "pageview") and not body.get("urls"):
        raise invalid_request(f"urls is required for {kind} metrics")
    if body.get("successCriteria", SUCCESS_CRITERIA[0]) not in SUCCESS_CRITERIA:
        raise invalid_request(f"successCriteria must be one of {', '.join(SUCCESS_CRITERIA)}")
    if body.get("unitAggregationType", UNIT_AGGREGATION_TYPES[0]) not in UNIT_AGGREGATION_TYPES:
        raise invalid_request(f"unitAggregationType must be one of {', '.join(UNIT_AGGREGATION_TYPES)}")
    # The v24 rename: accept analysisUnits too, the new name winning (launchdarkly-api.md §1.7).
    units = body.get("analysisUnits") or body.get("randomizationUnits") or (["user"] if kind == "custom" else [])
    source = body.get("dataSource")
    if source is not None and not (isinstance(source, dict) and isinstance(source.get("key"), str)):
        raise invalid_request("dataSource must be an object with a key")
    default = body.get("eventDefault")
    if default is not None and not (isinstance(default, dict) and isinstance(default.get("disabled", False), bool)):
        raise invalid_request("eventDefault must be an object {disabled, value}")
    now = utc_now()
    return MetricRecord(
        key=key,
        name=body.get("name") or key,
        kind=kind,
        id=hex_id("ld-metric", project_key, key, str(now.timestamp())),
        version_id=uuid_from("ld-metric-version", project_key, key, str(now.timestamp())),
        created_ms=epoch_ms(now),
        event_key=body.get("eventKey") if kind == "custom" else None,
        is_numeric=is_numeric if kind == "custom" else None,
        success_criteria=body.get("successCriteria"),
        unit_aggregation_type=body.get("unitAggregationType", "average" if kind == "custom" else None),
        randomization_units=tuple(units),
        tags=tuple(body.get("tags", [])),
        description=body.get("description"),
        unit=body.get("unit"),
        selector=body.get("selector"),
        urls=tuple(url for url in body.get("urls", []) if isinstance(url, dict)),
        data_source=source["key"] if source else HOSTED_DATA_SOURCE,
        data_source_environment=source.get("environmentKey") if source else None,
    )
