"""Admin routes under `/_sandbox/` for callers in another process (never logged, never faulted).

GET  /_sandbox/health           {"ok": true, "scenario": name, "now": ISO time}
GET  /_sandbox/requests         {"requests": [...], "counters": {...}}; ?path_prefix= narrows
GET  /_sandbox/counters         the counters alone
GET  /_sandbox/imported-events  {"events": [...]} accepted by the metric import endpoint
GET  /_sandbox/faults           the fault plan in force, in the scenario's [faults] shape
PUT  /_sandbox/faults           replace it (same JSON shape); 400 with the reason if invalid
POST /_sandbox/reset            seeded worlds back, log and imported events cleared
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ld_sentry_cli.sandbox.faults import FaultPlan
from ld_sentry_cli.sandbox.route_group import RouteGroup
from ld_sentry_cli.sandbox.scenario_parser import ScenarioError, parse_fault_plan


def fault_plan_to_json(plan: FaultPlan) -> dict[str, Any]:
    """A fault plan in the `[faults]` table's shape."""
    default = asdict(plan.default)
    del default["prefix"]
    return {"seed": plan.seed, **default, "routes": [asdict(rule) for rule in plan.routes]}


class AdminApi(RouteGroup):
    """The admin routes (`/_sandbox/...`): health, the request log, counters, faults and reset."""

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes."""
        return [
            Route("/_sandbox/health", self.health, methods=["GET"]),
            Route("/_sandbox/requests", self.requests, methods=["GET"]),
            Route("/_sandbox/counters", self.counters, methods=["GET"]),
            Route("/_sandbox/imported-events", self.imported_events, methods=["GET"]),
            Route("/_sandbox/faults", self.get_faults, methods=["GET"]),
            Route("/_sandbox/faults", self.put_faults, methods=["PUT"]),
            Route("/_sandbox/reset", self.reset, methods=["POST"]),
        ]

    async def health(self, request: Request) -> Response:
        """Readiness probe for subprocess users."""
        return JSONResponse({"ok": True, "scenario": self._state.scenario.name, "now": self._state.now.isoformat()})

    async def requests(self, request: Request) -> Response:
        """The request log and counters."""
        recorder = self._state.recorder
        records = recorder.requests(path_prefix=request.query_params.get("path_prefix", ""))
        return JSONResponse({"requests": [r.to_json() for r in records], "counters": recorder.counters().to_json()})

    async def counters(self, request: Request) -> Response:
        """The counters."""
        return JSONResponse(self._state.recorder.counters().to_json())

    async def imported_events(self, request: Request) -> Response:
        """Every event the import endpoint accepted."""
        return JSONResponse({"events": [e.to_json() for e in self._state.recorder.imported_events()]})

    async def get_faults(self, request: Request) -> Response:
        """The fault plan in force."""
        return JSONResponse(fault_plan_to_json(self._state.injector.plan))

    async def put_faults(self, request: Request) -> Response:
        """Replace the fault plan."""
        try:
            plan = parse_fault_plan(json.loads(await request.body() or b"{}"), source="PUT /_sandbox/faults")
        except (ValueError, ScenarioError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        self._state.injector.replace_plan(plan)
        return JSONResponse(fault_plan_to_json(plan))

    async def reset(self, request: Request) -> Response:
        """Rebuild the worlds and clear the log."""
        self._state.reset()
        return JSONResponse({"ok": True})
