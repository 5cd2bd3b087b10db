"""Sentry's flag change tracking routes, and the admin routes that change a flag and read what Sentry got.

Sentry (sentry-api.md §12; `src/sentry/flags/endpoints/hooks.py` and `secrets.py`, both PRIVATE):
POST {ORG}/flags/hooks/provider/launchdarkly/   no authentication; `X-LD-Signature` must be the
                                                HMAC-SHA256 hex of the raw body under the stored
                                                secret, else 401 "Not authorized."; 200 otherwise,
                                                with the serializer's errors when the body is unusable
GET|POST {ORG}/flags/signing-secrets/           org:read/write/admin; POST {"provider","secret"}
                                                (32 characters for launchdarkly) answers 201 with no
                                                body; replacing another's secret needs org:write/admin

Admin (never logged, never faulted):
POST /_sandbox/flag-change   {"project","environment","flag","action"?}: LaunchDarkly delivers the change
                             to every matching webhook; answers the deliveries
GET  /_sandbox/flag-log      what Sentry's hook accepted, how many it rejected, and the deliveries
"""

from __future__ import annotations

import hmac
import json
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ld_sentry_cli.sandbox.auth import ORG_READ, sentry_organization, sentry_organization_token
from ld_sentry_cli.sandbox.errors import SENTRY_NOT_FOUND, SentryApiError
from ld_sentry_cli.sandbox.flag_delivery import SIGNATURE_HEADER, audit_entry, deliver, signature
from ld_sentry_cli.sandbox.route_group import RouteGroup
from ld_sentry_cli.sandbox.sentry_routes import ORG
from ld_sentry_cli.sandbox.tracking_world import FlagLogEntry, SigningSecret

PROVIDERS = ("launchdarkly", "generic", "unleash", "statsig")
ORG_WRITE = frozenset({"org:write", "org:admin"})
# The LaunchDarkly actions Sentry logs (sentry `flags/providers.py` SUPPORTED_LAUNCHDARKLY_ACTIONS, abridged).
SUPPORTED_ACTIONS = frozenset(
    {
        "createFlag",
        "cloneFlag",
        "deleteFlag",
        "updateFallthrough",
        "updateOffVariation",
        "updateOn",
        "updateRules",
        "updateScheduledChanges",
        "updateDeprecated",
        "updateFlagDefaultVariations",
        "updateFlagVariations",
        "updateGlobalArchived",
        "updatePrerequisites",
    }
)


def _valid_field(name: str, value: Any) -> bool:
    """One required field of Sentry's LaunchDarklyItemSerializer, type-checked."""
    if name == "accesses":
        return isinstance(value, list) and bool(value) and isinstance(value[0], dict)
    if name == "date":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "name":
        return isinstance(value, str) and 0 < len(value) <= 100
    return isinstance(value, str)


def _serializer_errors(body: Any) -> dict[str, list[str]]:
    """What Sentry's LaunchDarklyItemSerializer would refuse in a hook body (empty when usable)."""
    if not isinstance(body, dict):
        return {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    errors: dict[str, list[str]] = {}
    for name in ("accesses", "date", "name", "description"):
        if name not in body:
            errors[name] = ["This field is required."]
        elif not _valid_field(name, body[name]):
            errors[name] = ["Invalid value."]
    if body.get("member") is not None and not isinstance(body["member"], dict):
        errors["member"] = ["Expected a dictionary of items."]
    return errors


class FlagTrackingApi(RouteGroup):
    """Sentry's flag change tracking routes and the flag admin routes."""

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes."""
        return [
            Route(f"{ORG}/flags/hooks/provider/{{provider}}/", self.hook, methods=["POST"]),
            Route(f"{ORG}/flags/signing-secrets/", self.list_secrets, methods=["GET"]),
            Route(f"{ORG}/flags/signing-secrets/", self.post_secret, methods=["POST"]),
            Route("/_sandbox/flag-change", self.flag_change, methods=["POST"]),
            Route("/_sandbox/flag-log", self.flag_log, methods=["GET"]),
        ]

    async def hook(self, request: Request) -> Response:
        """POST …/flags/hooks/provider/{provider}/: verify the signature, then log supported flag actions."""
        sentry_organization(self.sentry, request)
        if request.path_params["provider"] != "launchdarkly":
            raise SentryApiError(404, SENTRY_NOT_FOUND)
        body = await request.body()
        sent = request.headers.get(SIGNATURE_HEADER)
        stored = self.tracking.signing_secrets.get("launchdarkly")
        if sent is None or stored is None or not hmac.compare_digest(signature(stored.secret, body), sent):
            self.tracking.rejected_hooks += 1
            return JSONResponse("Not authorized.", status_code=401)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"non_field_errors": ["Invalid JSON."]})
        errors = _serializer_errors(payload)
        if errors:
            return JSONResponse(errors)  # Sentry answers 200 and drops the body (sentry-api.md §12)
        action = payload["accesses"][0].get("action")
        if action in SUPPORTED_ACTIONS:
            member = payload.get("member") or {}
            email = member.get("email") if isinstance(member, dict) else None
            self.tracking.flag_log.append(
                FlagLogEntry(
                    action,
                    payload["name"],
                    payload["date"],
                    email if isinstance(email, str) else None,
                    payload["description"],
                )
            )
        return Response(status_code=200)

    async def list_secrets(self, request: Request) -> Response:
        """GET …/flags/signing-secrets/: `{"data": [...]}`, each secret shown by its first 6 characters."""
        sentry_organization_token(self.sentry, request, ORG_READ)
        data = [
            {
                "createdAt": s.created_at,
                "createdBy": s.id,
                "id": s.id,
                "provider": s.provider,
                "secret": s.secret[:6] + "*" * (len(s.secret) - 6),
            }
            for s in self.tracking.signing_secrets.values()
        ]
        return JSONResponse({"data": data})

    async def post_secret(self, request: Request) -> Response:
        """POST …/flags/signing-secrets/: 201 with no body; 400 for a bad provider or length; 403 to replace."""
        token = sentry_organization_token(self.sentry, request, ORG_READ)
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return JSONResponse({"detail": "JSON parse error"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"non_field_errors": ["Invalid data. Expected a dictionary."]}, status_code=400)
        provider, secret = body.get("provider"), body.get("secret")
        errors: dict[str, list[str]] = {}
        if provider not in PROVIDERS:
            errors["provider"] = [f'"{provider}" is not a valid choice.' if provider else "This field is required."]
        if not isinstance(secret, str) or not secret:
            errors["secret"] = ["This field is required."]
        elif provider == "launchdarkly" and len(secret) != 32:
            bound = "at least" if len(secret) < 32 else "no more than"
            errors["secret"] = [f"Ensure this field has {bound} 32 characters."]
        if errors:
            return JSONResponse(errors, status_code=400)
        assert isinstance(provider, str) and isinstance(secret, str)
        existing = self.tracking.signing_secrets.get(provider)
        if existing is not None and existing.created_by != token.value and not set(token.scopes) & ORG_WRITE:
            return JSONResponse(
                "You must be an organization owner or manager, or the creator of this secret in order to perform "
                "this action.",
                status_code=403,
            )
        self.tracking.signing_secrets[provider] = SigningSecret(
            self.tracking.new_id(), provider, secret, token.value, datetime.now(timezone.utc).isoformat()
        )
        return Response(status_code=201)

    async def flag_change(self, request: Request) -> Response:
        """Admin: change a flag in LaunchDarkly and deliver the change to the matching webhooks."""
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        missing = [name for name in ("project", "environment", "flag") if not isinstance(body.get(name), str)]
        if missing:
            return JSONResponse({"error": f"missing string fields: {', '.join(missing)}"}, status_code=400)
        entry = audit_entry(
            self.ld.account_id,
            body["project"],
            body["environment"],
            body["flag"],
            action=str(body.get("action") or "updateOn"),
            email=str(body.get("member_email") or "sandbox@example.com"),
        )
        deliveries = await deliver(self.tracking, entry)
        return JSONResponse(
            {"resource": entry["accesses"][0]["resource"], "deliveries": [asdict(d) for d in deliveries]}
        )

    async def flag_log(self, request: Request) -> Response:
        """Admin: the flag changes Sentry's hook accepted, the rejections, and every delivery made."""
        world = self.tracking
        return JSONResponse(
            {
                "entries": [asdict(e) for e in world.flag_log],
                "rejected": world.rejected_hooks,
                "deliveries": [asdict(d) for d in world.deliveries],
            }
        )
