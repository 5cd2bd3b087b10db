"""The Sentry API routes ldsentry uses: the API root, projects, environments and error events.

Order of checks as in Sentry: authentication (401), the organization or project (404), the
token's scopes (403), then the query (400). Paths keep their trailing slash (Sentry notes §2).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ld_sentry_cli.sandbox.auth import (
    ORG_READ,
    PROJECT_READ,
    sentry_organization_token,
    sentry_require,
    sentry_token,
    sentry_token_if_any,
)
from ld_sentry_cli.sandbox.durations import parse_duration, parse_iso
from ld_sentry_cli.sandbox.errors import SENTRY_NOT_FOUND, SentryApiError
from ld_sentry_cli.sandbox.pagination import (
    Cursor,
    generic_offset_paginate,
    link_header,
    offset_paginate,
    parse_cursor,
    parse_per_page,
)
from ld_sentry_cli.sandbox.route_group import RouteGroup
from ld_sentry_cli.sandbox.sentry_payloads import (
    DISCOVER_FIELD_TYPES,
    discover_sort_key,
    discover_value,
    environment_item,
    event_detail,
    event_simple,
    organization_detail,
    project_detail,
    project_summary,
)
from ld_sentry_cli.sandbox.sentry_world import EventRecord, SentryProjectState, shown

T = TypeVar("T")

ORG = "/api/0/organizations/{organization_id_or_slug}"
PROJECT = "/api/0/projects/{organization_id_or_slug}/{project_id_or_slug}"
_VISIBILITIES = ("all", "hidden", "visible")
_MAX_FIELDS = 20
# Defaults when no period is given: Discover uses 14 days; the project event list is assumed to
# cover 90 days (MAX_STATS_PERIOD). Both unverified (Sentry notes §13).
_ORG_EVENTS_DEFAULT_PERIOD = timedelta(days=14)
_PROJECT_EVENTS_DEFAULT_PERIOD = timedelta(days=90)
_QUERY_TERM = re.compile(r"^(!?)([\w.\[\]]+):(.*)$")


def _bad_request(detail: str) -> SentryApiError:
    return SentryApiError(400, detail)


class SentryApi(RouteGroup):
    """The Sentry API routes: the API root, organization, projects, environments and error events."""

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes."""
        return [
            Route("/api/0/", self.index, methods=["GET"]),
            Route(f"{ORG}/", self.get_organization, methods=["GET"]),
            Route(f"{ORG}/projects/", self.list_projects, methods=["GET"]),
            Route(f"{ORG}/environments/", self.list_organization_environments, methods=["GET"]),
            Route(f"{ORG}/events/", self.query_events, methods=["GET"]),
            Route(f"{PROJECT}/", self.get_project, methods=["GET"]),
            Route(f"{PROJECT}/environments/", self.list_project_environments, methods=["GET"]),
            Route(f"{PROJECT}/events/", self.list_project_events, methods=["GET"]),
            Route(f"{PROJECT}/events/{{event_id}}/", self.get_event, methods=["GET"]),
        ]

    # --- lookups -------------------------------------------------------------------------------

    def _project(self, request: Request) -> SentryProjectState:
        token = sentry_token(self.sentry, request)
        project = None
        if self.sentry.matches_organization(request.path_params["organization_id_or_slug"]):
            project = self.sentry.project(request.path_params["project_id_or_slug"])
        if project is None:
            raise SentryApiError(404, SENTRY_NOT_FOUND)
        sentry_require(token, PROJECT_READ)
        return project

    def _base_url(self, request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    def _paged(self, request: Request, payload: Any, previous: Cursor, next_: Cursor) -> Response:
        params = list(request.query_params.multi_items())
        link = link_header(self._base_url(request), request.url.path, params, previous, next_)
        return JSONResponse(payload, headers={"Link": link})

    # --- routes --------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        """GET /api/0/: the token self-check (not in the OpenAPI document; Sentry notes §1)."""
        token = sentry_token_if_any(self.sentry, request)
        auth = None if token is None else {"scopes": list(token.scopes)}
        return JSONResponse({"version": "0", "auth": auth, "user": None})

    async def get_organization(self, request: Request) -> Response:
        """getOrganization, with the data scrubbing settings when the scenario shows them."""
        sentry_organization_token(self.sentry, request, ORG_READ)
        return JSONResponse(organization_detail(self.sentry))

    async def list_projects(self, request: Request) -> Response:
        """listOrganizationProjects: sorted by slug, OffsetPaginator cursors, `query` on name/slug."""
        sentry_organization_token(self.sentry, request, ORG_READ)
        per_page = self._per_page(request, self._state.scenario.sentry.projects_page_size)
        cursor = self._cursor(request)
        projects = sorted(self.sentry.projects.values(), key=lambda p: p.slug)
        query = request.query_params.get("query", "").lower()
        if query:
            projects = [p for p in projects if query in p.slug.lower() or query in p.name.lower()]
        page, next_, previous = _paginated(offset_paginate, projects, cursor, per_page)
        summaries = [project_summary(p, with_environments=not self.sentry.older_instance) for p in page]
        return self._paged(request, summaries, previous, next_)

    async def list_organization_environments(self, request: Request) -> Response:
        """listOrganizationEnvironments with `visibility` (default visible)."""
        sentry_organization_token(self.sentry, request, ORG_READ)
        visibility = self._visibility(request)
        environments = self.sentry.organization_environments(visibility)
        return JSONResponse([environment_item(e, with_hidden_flag=False) for e in environments])

    async def get_project(self, request: Request) -> Response:
        """getProject by slug or numeric id."""
        project = self._project(request)
        return JSONResponse(project_detail(self.sentry, project))

    async def list_project_environments(self, request: Request) -> Response:
        """listProjectEnvironments with `visibility` all|hidden|visible (default visible)."""
        project = self._project(request)
        visibility = self._visibility(request)
        return JSONResponse([environment_item(e) for e in project.environments if shown(e, visibility)])

    async def get_event(self, request: Request) -> Response:
        """getProjectEvent; `environment` only scopes next/previous (Sentry notes §4.1)."""
        project = self._project(request)
        event = self.sentry.events.get(request.path_params["event_id"].replace("-", "").lower())
        if event is None or event.project_id != project.id:
            raise SentryApiError(404, "Event not found")
        environments = request.query_params.getlist("environment")
        siblings = [e for e in project.events if not environments or e.environment in environments]
        position = next((i for i, e in enumerate(siblings) if e.event_id == event.event_id), None)
        newer = siblings[position - 1].event_id if position else None  # newest first
        older = siblings[position + 1].event_id if position is not None and position + 1 < len(siblings) else None
        return JSONResponse(event_detail(event, next_id=newer, previous_id=older))

    async def list_project_events(self, request: Request) -> Response:
        """listProjectEvents: `full`, `sample`, `query` (message substring), period, cursor paging."""
        project = self._project(request)
        per_page = self._per_page(request, self._state.scenario.sentry.events_page_size)
        cursor = self._cursor(request)
        start, end = self._period(request, _PROJECT_EVENTS_DEFAULT_PERIOD)
        events = [e for e in project.events if start <= e.timestamp <= end]
        needle = request.query_params.get("query", "").lower()
        if needle:
            events = [e for e in events if needle in e.title.lower()]
        if _truthy(request.query_params.get("sample")):
            events.sort(key=lambda e: e.event_id)
        page, next_, previous = _paginated(generic_offset_paginate, events, cursor, per_page)
        if _truthy(request.query_params.get("full")):
            # The full serializer's fields plus the list's own required `event.type` (the spec's
            # listProjectEvents item schema); neighbours belong to the detail endpoint only.
            items = [{**event_detail(e), "event.type": "error"} for e in page]
            for item in items:
                del item["nextEventID"], item["previousEventID"]
        else:
            items = [event_simple(e) for e in page]
        return self._paged(request, items, previous, next_)

    async def query_events(self, request: Request) -> Response:
        """listOrganizationEvents (Explore, `dataset=errors`): fields, project, environment, period, sort."""
        sentry_organization_token(self.sentry, request, ORG_READ)
        fields = request.query_params.getlist("field")
        dataset = request.query_params.get("dataset")
        if not fields:
            raise _bad_request("No columns selected")
        if len(fields) > _MAX_FIELDS:
            raise _bad_request("You can view up to 20 fields at a time. Please delete some and try again.")
        if dataset is None:
            raise _bad_request("dataset is required")
        if dataset != "errors":
            raise _bad_request(f"The sandbox serves dataset=errors only, not {dataset!r}")
        per_page = self._per_page(request, self._state.scenario.sentry.events_page_size)
        cursor = self._cursor(request)
        projects = self._selected_projects(request)
        environments = request.query_params.getlist("environment")
        known = set(self.sentry.environment_ids)
        if any(name not in known for name in environments):
            # An unknown environment name is ResourceDoesNotExist (Sentry notes §3).
            raise SentryApiError(404, SENTRY_NOT_FOUND)
        start, end = self._period(request, _ORG_EVENTS_DEFAULT_PERIOD)
        events = [
            e
            for p in projects
            for e in p.events
            if start <= e.timestamp <= end and (not environments or e.environment in environments)
        ]
        events = [e for e in events if _query_matches(e, request.query_params.get("query", ""))]
        events = _sorted(events, request.query_params.get("sort"), fields)
        page, next_, previous = _paginated(generic_offset_paginate, events, cursor, per_page)
        payload = {
            "data": [{name: discover_value(e, name) for name in fields} for e in page],
            "meta": {
                "fields": {name: DISCOVER_FIELD_TYPES.get(name, "string") for name in fields},
                "units": dict.fromkeys(fields),
                "isMetricsData": False,
                "isMetricsExtractedData": False,
                "tips": {},
                "datasetReason": "unchanged",
                "dataset": "errors",
            },
        }
        return self._paged(request, payload, previous, next_)

    # --- parameters ----------------------------------------------------------------------------

    def _per_page(self, request: Request, default: int) -> int:
        try:
            return parse_per_page(request.query_params.get("per_page"), default)
        except ValueError as exc:
            raise _bad_request(str(exc)) from None

    def _cursor(self, request: Request) -> Cursor:
        try:
            return parse_cursor(request.query_params.get("cursor"))
        except ValueError:
            raise _bad_request("Invalid cursor parameter.") from None

    def _visibility(self, request: Request) -> str:
        visibility = request.query_params.get("visibility", "visible")
        if visibility not in _VISIBILITIES:
            raise _bad_request("Invalid value for 'visibility', valid values are: 'all', 'hidden', 'visible'")
        return visibility

    def _period(self, request: Request, default: timedelta) -> tuple[datetime, datetime]:
        """`statsPeriod` (which overrides start/end) or `start`/`end`, else the default window."""
        now = self.sentry.now
        period = request.query_params.get("statsPeriod")
        try:
            if period:
                return now - parse_duration(period, unit_required=False), now
            start, end = request.query_params.get("start"), request.query_params.get("end")
            if start and end:
                return parse_iso(start), parse_iso(end)
            if start or end:
                raise _bad_request("start and end are both required")
        except ValueError:
            raise _bad_request(f"Invalid date range: statsPeriod={period!r}") from None
        return now - default, now

    def _selected_projects(self, request: Request) -> list[SentryProjectState]:
        selected = request.query_params.getlist("project")
        if not selected or "-1" in selected:
            return list(self.sentry.projects.values())
        projects = []
        for id_or_slug in selected:
            project = self.sentry.project(id_or_slug)
            if project is None:
                raise SentryApiError(403, "You do not have permission to perform this action.")
            projects.append(project)
        return projects


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


def _sorted(events: list[EventRecord], sort: str | None, fields: list[str]) -> list[EventRecord]:
    """Order by `sort` (which must be a selected field), newest first by default."""
    if not sort:
        return sorted(events, key=lambda e: (e.timestamp, e.event_id), reverse=True)
    name = sort.lstrip("-")
    if name not in fields:
        raise _bad_request("Cannot order by a field that is not selected.")
    return sorted(events, key=lambda e: (discover_sort_key(e, name), e.event_id), reverse=sort.startswith("-"))


def _query_matches(event: EventRecord, query: str) -> bool:
    """A small subset of Sentry search: space-separated `key:value` / `!key:value` terms."""
    try:
        terms = shlex.split(query)
    except ValueError:
        raise _bad_request(f"Invalid query: {query!r}") from None
    for term in terms:
        match = _QUERY_TERM.match(term)
        if match is None:
            raise _bad_request(f"The sandbox supports only key:value query terms, not {term!r}")
        negate, key, value = match.groups()
        actual = discover_value(event, key)
        if (str(actual) == value if actual is not None else value == "") == bool(negate):
            return False
    return True


def _paginated(
    paginate: Callable[[Sequence[T], Cursor, int], tuple[list[T], Cursor, Cursor]],
    items: Sequence[T],
    cursor: Cursor,
    per_page: int,
) -> tuple[list[T], Cursor, Cursor]:
    """One page by `paginate`; a cursor pointing before the first item is Sentry's 400, not a crash."""
    try:
        return paginate(items, cursor, per_page)
    except ValueError as exc:  # "Pagination offset cannot be negative"
        raise _bad_request(str(exc)) from None
