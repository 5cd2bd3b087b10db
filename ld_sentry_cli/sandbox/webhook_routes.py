"""LaunchDarkly's webhooks routes: list, create, get, JSON Patch and delete (`/api/v2/webhooks`).

Shapes follow launchdarkly-openapi.json (`webhookPost`, `Webhook`, `Webhooks`; create answers 200)
and launchdarkly-api.md §1.8. Reading needs any valid token; writes need a writer token.
"""

from __future__ import annotations

import secrets
from typing import Any

import jsonpatch
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ld_sentry_cli.sandbox.auth import ld_require, ld_token
from ld_sentry_cli.sandbox.errors import LdApiError, invalid_request, ld_json_body
from ld_sentry_cli.sandbox.ids import hex_id
from ld_sentry_cli.sandbox.ld_payloads import link
from ld_sentry_cli.sandbox.route_group import RouteGroup
from ld_sentry_cli.sandbox.tracking_world import WebhookRecord

WEBHOOKS = "/api/v2/webhooks"
# Fields a patch may change; `_id` and `_links` are LaunchDarkly's own.
_WRITABLE = ("name", "url", "secret", "sign", "on", "tags", "statements")


def _links(webhook_id: str) -> dict[str, Any]:
    return {"self": link(f"{WEBHOOKS}/{webhook_id}")}


def webhook_json(record: WebhookRecord) -> dict[str, Any]:
    """The `Webhook` representation; `secret` only for a signed webhook (as it is sent back, spec §Webhook)."""
    doc = record.document
    body: dict[str, Any] = {"_links": _links(record.id), "_id": record.id, "url": doc["url"]}
    if doc.get("name"):
        body["name"] = doc["name"]
    if doc.get("sign") and doc.get("secret"):
        body["secret"] = doc["secret"]
    body["statements"] = doc.get("statements", [])
    body["on"] = doc["on"]
    body["tags"] = doc.get("tags", [])
    return body


def _check_statements(value: Any) -> None:
    if not isinstance(value, list):
        raise invalid_request("statements must be an array")
    for statement in value:
        if not isinstance(statement, dict) or statement.get("effect") not in ("allow", "deny"):
            raise invalid_request("each statement needs effect allow or deny")
        for name in ("resources", "notResources", "actions", "notActions"):
            if name in statement and not (
                isinstance(statement[name], list) and all(isinstance(v, str) for v in statement[name])
            ):
                raise invalid_request(f"statement {name} must be an array of strings")


def validate_document(doc: Any) -> dict[str, Any]:
    """A webhook body as `webhookPost` requires it: url, sign and on; types checked; unknown fields refused."""
    if not isinstance(doc, dict):
        raise invalid_request("Invalid request body: expected a JSON object")
    unknown = sorted(set(doc) - set(_WRITABLE))
    if unknown:
        raise invalid_request(f"Unknown webhook fields: {', '.join(unknown)}")
    if not isinstance(doc.get("url"), str) or not doc["url"]:
        raise invalid_request("url is required")
    for name in ("sign", "on"):
        if not isinstance(doc.get(name), bool):
            raise invalid_request(f"{name} is required and must be a boolean")
    for name in ("name", "secret"):
        if name in doc and not isinstance(doc[name], str):
            raise invalid_request(f"{name} must be a string")
    if "tags" in doc and not (isinstance(doc["tags"], list) and all(isinstance(t, str) for t in doc["tags"])):
        raise invalid_request("tags must be an array of strings")
    if "statements" in doc:
        _check_statements(doc["statements"])
    return doc


class WebhooksApi(RouteGroup):
    """LaunchDarkly's webhook routes."""

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes."""
        return [
            Route(WEBHOOKS, self.list_webhooks, methods=["GET"]),
            Route(WEBHOOKS, self.create_webhook, methods=["POST"]),
            Route(WEBHOOKS + "/{id}", self.get_webhook, methods=["GET"]),
            Route(WEBHOOKS + "/{id}", self.patch_webhook, methods=["PATCH"]),
            Route(WEBHOOKS + "/{id}", self.delete_webhook, methods=["DELETE"]),
        ]

    def _authorise(self, request: Request, *, write: bool = False) -> None:
        ld_require(ld_token(self.ld, request), write=write)

    def _record(self, request: Request) -> WebhookRecord:
        record = self.tracking.webhooks.get(request.path_params["id"])
        if record is None:
            raise LdApiError(404, "not_found", "Invalid resource identifier")
        return record

    async def list_webhooks(self, request: Request) -> Response:
        """GET /api/v2/webhooks: every webhook, one page (the spec declares no paging)."""
        self._authorise(request)
        items = [webhook_json(record) for record in self.tracking.webhooks.values()]
        return JSONResponse({"_links": {"self": link(WEBHOOKS)}, "items": items})

    async def create_webhook(self, request: Request) -> Response:
        """POST /api/v2/webhooks: 200 `Webhook`; a signed webhook without a secret gets a generated one."""
        self._authorise(request, write=True)
        doc = validate_document(await ld_json_body(request))
        if doc["sign"] and not doc.get("secret"):
            doc["secret"] = secrets.token_hex(16)
        webhook_id = hex_id("ld-webhook", str(self.tracking.new_id()), doc["url"])
        record = WebhookRecord(webhook_id, doc)
        self.tracking.webhooks[webhook_id] = record
        return JSONResponse(webhook_json(record))

    async def get_webhook(self, request: Request) -> Response:
        """GET /api/v2/webhooks/{id}."""
        self._authorise(request)
        return JSONResponse(webhook_json(self._record(request)))

    async def patch_webhook(self, request: Request) -> Response:
        """PATCH /api/v2/webhooks/{id}: a JSON Patch (RFC 6902) over the webhook's writable fields."""
        self._authorise(request, write=True)
        record = self._record(request)
        operations = await ld_json_body(request)
        if not isinstance(operations, list) or not operations:
            raise invalid_request("Invalid request body: expected a non-empty JSON Patch array")
        try:
            patched = jsonpatch.apply_patch(record.document, operations)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
            raise invalid_request(f"Invalid patch: {exc}") from None
        record.document = validate_document(patched)
        return JSONResponse(webhook_json(record))

    async def delete_webhook(self, request: Request) -> Response:
        """DELETE /api/v2/webhooks/{id}: 204."""
        self._authorise(request, write=True)
        record = self._record(request)
        del self.tracking.webhooks[record.id]
        return Response(status_code=204)
