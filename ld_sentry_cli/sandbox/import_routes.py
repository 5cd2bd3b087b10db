"""LaunchDarkly's metric import endpoint: `POST /v2/event-data-import/{projectKey}/{environmentKey}`.

Served on the same app as the REST API for simplicity (the real one lives on the events host).
Requirements from the "Importing metric events" docs (launchdarkly-api.md §4.5): an access token
allowed to import, `X-LaunchDarkly-Event-Schema: 4`, a `User-Agent: MetricImport-<COMPANY>-int/<VERSION>`,
a JSON array of custom events with `contextKeys`; `X-LaunchDarkly-Payload-ID` optional. Success is
assumed to be 202 (unverified). Every accepted event is recorded with its payload id.
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ld_sentry_cli.sandbox.auth import ld_require, ld_token
from ld_sentry_cli.sandbox.errors import LdApiError, invalid_request
from ld_sentry_cli.sandbox.recorder import ImportedEvent
from ld_sentry_cli.sandbox.route_group import RouteGroup


class EventImportApi(RouteGroup):
    """LaunchDarkly's metric event import route."""

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes."""
        return [Route("/v2/event-data-import/{projectKey}/{environmentKey}", self.import_events, methods=["POST"])]

    async def import_events(self, request: Request) -> Response:
        """Validate and record one payload of custom events; 202 on success."""
        world = self.ld
        ld_require(ld_token(world, request), write=True)
        project = world.project(request.path_params["projectKey"])
        environment_key = request.path_params["environmentKey"]
        if project is None or project.environment(environment_key) is None:
            raise LdApiError(404, "not_found", "Invalid resource identifier")
        if request.headers.get("x-launchdarkly-event-schema") != "4":
            raise invalid_request("X-LaunchDarkly-Event-Schema: 4 is required")
        if not request.headers.get("user-agent", "").startswith("MetricImport-"):
            raise invalid_request("User-Agent must be MetricImport-<COMPANY>-int/<VERSION>")
        events = _parse_events(await _body(request))
        payload_id = request.headers.get("x-launchdarkly-payload-id")
        received = time.time()
        self._state.recorder.record_import(
            [ImportedEvent(project.key, environment_key, payload_id, event, received) for event in events]
        )
        return Response(status_code=202)


async def _body(request: Request) -> bytes:
    raw = await request.body()
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError):
            raise invalid_request("Content-Encoding is gzip but the body is not") from None
    return raw


def _parse_events(raw: bytes) -> list[dict[str, Any]]:
    """A JSON array of `{"kind":"custom","key","creationDate","contextKeys", "metricValue"?}`."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid_request("Invalid request body: not JSON") from None
    if not isinstance(body, list) or not body:
        raise invalid_request("Invalid request body: expected a non-empty JSON array of events")
    for index, event in enumerate(body):
        where = f"event {index}"
        if not isinstance(event, dict):
            raise invalid_request(f"{where}: expected an object")
        if event.get("kind") != "custom":
            raise invalid_request(f'{where}: kind must be "custom"')
        if not isinstance(event.get("key"), str) or not event["key"]:
            raise invalid_request(f"{where}: key must be a non-empty string")
        created = event.get("creationDate")
        if isinstance(created, bool) or not isinstance(created, int) or created <= 0:
            raise invalid_request(f"{where}: creationDate must be Unix milliseconds")
        keys = event.get("contextKeys")
        if (
            not isinstance(keys, dict)
            or not keys
            or not all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in keys.items())
        ):
            raise invalid_request(f"{where}: contextKeys must map context kinds to non-empty keys")
        value = event.get("metricValue")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise invalid_request(f"{where}: metricValue must be a number")
    return body
