"""A flag change in the sandbox's LaunchDarkly, delivered to every webhook whose statements let it through.

LaunchDarkly posts an audit-log entry to each enabled webhook, signed with `X-LD-Signature`: the
HMAC-SHA256 hex digest of the body under the webhook's secret (launchdarkly-api.md §1.8). Only
loopback URLs are called, so tests and the demo never reach the network.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from ld_sentry_cli.hosts import is_loopback_host
from ld_sentry_cli.sandbox.durations import epoch_ms, utc_now
from ld_sentry_cli.sandbox.ids import hex_id
from ld_sentry_cli.sandbox.ld_payloads import link
from ld_sentry_cli.sandbox.tracking_world import Delivery, TrackingWorld

SIGNATURE_HEADER = "X-LD-Signature"
DELIVERY_TIMEOUT = 5.0


def signature(secret: str, body: bytes) -> str:
    """The `X-LD-Signature` of a body: HMAC-SHA256 hex with the secret as key."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _pattern_matches(patterns: list[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern.split(";", 1)[0]) for pattern in patterns)


def statements_allow(statements: list[dict[str, Any]], resource: str, action: str) -> bool:
    """Whether a webhook's statements send this change (no statements: every change is sent)."""
    if not statements:
        return True
    allowed = False
    for statement in statements:
        resources, not_resources = statement.get("resources", []), statement.get("notResources", [])
        actions, not_actions = statement.get("actions", []), statement.get("notActions", [])
        resource_hit = (
            _pattern_matches(resources, resource) if resources else not _pattern_matches(not_resources, resource)
        )
        action_hit = _pattern_matches(actions, action) if actions else not _pattern_matches(not_actions, action)
        if resource_hit and action_hit:
            if statement.get("effect") == "deny":
                return False
            allowed = True
    return allowed


def audit_entry(
    account_id: str, project: str, environment: str, flag: str, *, action: str, email: str
) -> dict[str, Any]:
    """The audit-log entry LaunchDarkly posts for a flag change (the fields Sentry reads, and a few more)."""
    resource = f"proj/{project}:env/{environment}:flag/{flag}"
    now = utc_now()
    entry_id = hex_id("ld-audit", resource, action, now.isoformat())
    return {
        "_links": {"self": link(f"/api/v2/auditlog/{entry_id}")},
        "_id": entry_id,
        "_accountId": account_id,
        "date": epoch_ms(now),
        "accesses": [{"action": action, "resource": resource}],
        "kind": "flag",
        "name": flag,
        "description": f"- {action} on {flag} in {environment}",
        "shortDescription": "",
        "member": {"_id": hex_id("ld-member", email), "email": email, "firstName": "Sandbox", "lastName": "User"},
        "titleVerb": "changed the flag",
        "title": f"Sandbox User changed the flag {flag} in {environment}",
        "target": {"name": flag, "resources": [resource]},
    }


async def deliver(world: TrackingWorld, entry: dict[str, Any]) -> list[Delivery]:
    """Post the entry to every enabled webhook whose statements allow it; signed webhooks sign it."""
    access = entry["accesses"][0]
    body = json.dumps(entry, separators=(",", ":")).encode()
    targets = [
        record
        for record in list(world.webhooks.values())
        if record.document.get("on") and statements_allow(record.document.get("statements", []), **access)
    ]
    deliveries = []
    async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT, follow_redirects=False) as client:
        for record in targets:
            doc = record.document
            url = doc["url"]
            signed = bool(doc.get("sign") and doc.get("secret"))
            if not is_loopback_host(urlsplit(url).hostname or ""):
                deliveries.append(
                    Delivery(record.id, url, signed, None, "not delivered: the sandbox calls only loopback")
                )
                continue
            headers = {"Content-Type": "application/json", "User-Agent": "LaunchDarkly-Webhooks (sandbox)"}
            if signed:
                headers[SIGNATURE_HEADER] = signature(doc["secret"], body)
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                deliveries.append(Delivery(record.id, url, signed, None, f"{type(exc).__name__}: {exc}"))
            else:
                deliveries.append(Delivery(record.id, url, signed, response.status_code))
    world.deliveries.extend(deliveries)
    return deliveries
