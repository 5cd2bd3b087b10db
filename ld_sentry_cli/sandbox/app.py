"""Assemble the sandbox: a Starlette app with every emulated route, wrapped in the fault/log layer.

`build_app(scenario)` returns a `Sandbox`, which is itself the ASGI application (give it to
uvicorn, `serve_in_thread`, or `httpx.ASGITransport`) and the handle tests read the log from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from ld_sentry_cli.sandbox.admin_routes import AdminApi
from ld_sentry_cli.sandbox.errors import (
    LdApiError,
    SentryApiError,
    ld_error_response,
    method_not_allowed,
    not_found,
    sentry_error_response,
    service_for,
)
from ld_sentry_cli.sandbox.faults import FaultPlan
from ld_sentry_cli.sandbox.flag_routes import FlagTrackingApi
from ld_sentry_cli.sandbox.import_routes import EventImportApi
from ld_sentry_cli.sandbox.ld_routes import LaunchDarklyApi
from ld_sentry_cli.sandbox.middleware import SandboxMiddleware
from ld_sentry_cli.sandbox.recorder import Counters, ImportedEvent, RequestRecord
from ld_sentry_cli.sandbox.scenario import Scenario
from ld_sentry_cli.sandbox.scenario_parser import load_scenario, scenario_from_dict
from ld_sentry_cli.sandbox.sentry_routes import SentryApi
from ld_sentry_cli.sandbox.state import SandboxState
from ld_sentry_cli.sandbox.webhook_routes import WebhooksApi

ScenarioSource = Scenario | Mapping[str, Any] | str | os.PathLike[str]


class Sandbox:
    """The emulator: an ASGI app plus its in-process state (log, counters, imported events, faults)."""

    def __init__(self, scenario: Scenario, *, faults: FaultPlan | None = None, now: datetime | None = None) -> None:
        self.state = SandboxState(scenario, faults=faults, now=now)
        self.routes: list[BaseRoute] = [
            *LaunchDarklyApi(self.state).routes(),
            *EventImportApi(self.state).routes(),
            *SentryApi(self.state).routes(),
            *WebhooksApi(self.state).routes(),
            *FlagTrackingApi(self.state).routes(),
            *AdminApi(self.state).routes(),
        ]
        starlette = Starlette(
            routes=self.routes,
            exception_handlers={
                LdApiError: _ld_error,
                SentryApiError: _sentry_error,
                HTTPException: _http_error,
            },
        )
        # Exact paths: Sentry paths end in "/" and LaunchDarkly's do not; a client that gets this
        # wrong should see a 404 here rather than be redirected (docs/design.md "HTTP").
        starlette.router.redirect_slashes = False
        self.starlette = starlette
        self._asgi = SandboxMiddleware(starlette, self.state, self._resolve_route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        await self._asgi(scope, receive, send)

    @property
    def scenario(self) -> Scenario:
        """The scenario the sandbox was built from."""
        return self.state.scenario

    @property
    def faults(self) -> FaultPlan:
        """The fault plan in force."""
        return self.state.injector.plan

    def set_faults(self, plan: FaultPlan) -> None:
        """Replace the fault plan (occurrence counts restart)."""
        self.state.injector.replace_plan(plan)

    def requests(self, *, path_prefix: str = "", service: str | None = None) -> list[RequestRecord]:
        """The request log (admin routes excluded), optionally narrowed."""
        return self.state.recorder.requests(path_prefix=path_prefix, service=service)

    def counters(self) -> Counters:
        """Totals by status, endpoint, service and fault, and peak concurrency."""
        return self.state.recorder.counters()

    def imported_events(self) -> list[ImportedEvent]:
        """Events accepted by the metric import endpoint, with their payload ids."""
        return self.state.recorder.imported_events()

    def metric_keys(self, project_key: str) -> list[str]:
        """The metric keys a LaunchDarkly project holds now (seeded and created)."""
        project = self.state.ld.project(project_key)
        return list(project.metrics) if project else []

    def reset(self) -> None:
        """Seeded data back, log and imported events cleared (the fault plan stays)."""
        self.state.reset()

    def _resolve_route(self, scope: Scope) -> str | None:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                path: str | None = getattr(route, "path", None)
                return path
        return None


def build_app(scenario: ScenarioSource, *, faults: FaultPlan | None = None, now: datetime | None = None) -> Sandbox:
    """Build a sandbox from a Scenario, a scenario dict, or a TOML file path; `faults` overrides the file's."""
    if isinstance(scenario, Scenario):
        resolved = scenario
    elif isinstance(scenario, Mapping):
        resolved = scenario_from_dict(scenario)
    else:
        resolved = load_scenario(scenario)
    return Sandbox(resolved, faults=faults, now=now)


async def _ld_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LdApiError)
    return ld_error_response(exc.status, exc.code, exc.message)


async def _sentry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SentryApiError)
    return sentry_error_response(exc.status, exc.detail)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    service = service_for(request.url.path)
    if exc.status_code == 405:
        return method_not_allowed(service, request.method)
    if exc.status_code == 404:
        return not_found(service)
    return Response(status_code=exc.status_code)
