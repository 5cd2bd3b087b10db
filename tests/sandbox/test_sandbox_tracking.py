"""The emulator's flag change tracking: LaunchDarkly webhooks, Sentry's signing secrets and hook, and delivery."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
from sandbox_helpers import LD_HEADERS, SENTRY_HEADERS

from ld_sentry_cli.sandbox import RunningServer

SECRETS = "/api/0/organizations/acme/flags/signing-secrets/"
HOOK = "/api/0/organizations/acme/flags/hooks/provider/launchdarkly/"
SECRET = "0123456789abcdef0123456789abcdef"
ENTRY = {
    "accesses": [{"action": "updateOn", "resource": "proj/alpha:env/production:flag/f"}],
    "date": 1_700_000_000_000,
    "member": {"email": "a@example.com"},
    "name": "f",
    "description": "turned on",
}


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def create_webhook(client: httpx.Client, url: str, **fields: object) -> dict[str, object]:
    body = {"url": url, "sign": True, "secret": SECRET, "on": True, "tags": ["ldsentry"], **fields}
    response = client.post("/api/v2/webhooks", json=body, headers=LD_HEADERS)
    assert response.status_code == 200, response.text
    created: dict[str, object] = response.json()
    return created


def test_webhooks_create_list_patch_delete(client: httpx.Client) -> None:
    created = create_webhook(
        client,
        "http://127.0.0.1:9/hook",
        statements=[{"effect": "allow", "resources": ["proj/alpha:env/*:flag/*"], "actions": ["*"]}],
    )
    webhook_id = created["_id"]
    patch = [
        {
            "op": "add",
            "path": "/statements/-",
            "value": {"effect": "allow", "resources": ["proj/beta:env/production:flag/*"], "actions": ["*"]},
        },
        {"op": "replace", "path": "/on", "value": False},
    ]

    patched = client.patch(f"/api/v2/webhooks/{webhook_id}", json=patch, headers=LD_HEADERS)
    listed = client.get("/api/v2/webhooks", headers=LD_HEADERS).json()
    bad = client.patch(
        f"/api/v2/webhooks/{webhook_id}", json=[{"op": "replace", "path": "/nope/x", "value": 1}], headers=LD_HEADERS
    )
    unsigned = client.patch(
        f"/api/v2/webhooks/{webhook_id}", json=[{"op": "replace", "path": "/sign", "value": "yes"}], headers=LD_HEADERS
    )
    deleted = client.delete(f"/api/v2/webhooks/{webhook_id}", headers=LD_HEADERS)

    assert created["secret"] == SECRET
    assert patched.status_code == 200
    assert patched.json()["on"] is False
    assert [s["resources"] for s in patched.json()["statements"]] == [
        ["proj/alpha:env/*:flag/*"],
        ["proj/beta:env/production:flag/*"],
    ]
    assert [item["_id"] for item in listed["items"]] == [webhook_id]
    assert bad.status_code == 400
    assert unsigned.status_code == 400
    assert unsigned.json()["message"] == "sign is required and must be a boolean"
    assert deleted.status_code == 204
    assert client.get("/api/v2/webhooks", headers=LD_HEADERS).json()["items"] == []


def test_a_signed_webhook_without_a_secret_gets_one(client: httpx.Client) -> None:
    created = client.post(
        "/api/v2/webhooks", json={"url": "http://127.0.0.1:9/", "sign": True, "on": True}, headers=LD_HEADERS
    ).json()
    unsigned = client.post(
        "/api/v2/webhooks", json={"url": "http://127.0.0.1:9/", "sign": False, "on": True}, headers=LD_HEADERS
    ).json()

    assert len(created["secret"]) == 32
    assert "secret" not in unsigned


def test_signing_secrets_replace_rules_and_masking(client: httpx.Client) -> None:
    first = client.post(
        SECRETS,
        json={"provider": "launchdarkly", "secret": SECRET},
        headers={"Authorization": "Bearer sentry-org-only"},
    )
    by_other = client.post(SECRETS, json={"provider": "launchdarkly", "secret": "b" * 32}, headers=SENTRY_HEADERS)
    too_long = client.post(SECRETS, json={"provider": "launchdarkly", "secret": "c" * 33}, headers=SENTRY_HEADERS)
    listed = client.get(SECRETS, headers=SENTRY_HEADERS).json()

    assert first.status_code == 201
    assert first.content == b""
    # SENTRY_TOKEN has org:read only and did not create the secret: Sentry refuses to replace it.
    assert by_other.status_code == 403
    assert by_other.json().startswith("You must be an organization owner or manager")
    assert too_long.json() == {"secret": ["Ensure this field has no more than 32 characters."]}
    assert [(s["provider"], s["secret"]) for s in listed["data"]] == [("launchdarkly", "012345" + "*" * 26)]


def test_hook_verifies_the_signature_as_sentry_does(client: httpx.Client) -> None:
    client.post(SECRETS, json={"provider": "launchdarkly", "secret": SECRET}, headers=SENTRY_HEADERS)
    body = json.dumps(ENTRY).encode()
    unsupported = json.dumps({**ENTRY, "accesses": [{"action": "updateName"}]}).encode()

    good = client.post(HOOK, content=body, headers={"X-LD-Signature": sign(SECRET, body)})
    wrong = client.post(HOOK, content=body, headers={"X-LD-Signature": sign("x" * 32, body)})
    missing = client.post(HOOK, content=body)
    ignored = client.post(HOOK, content=unsupported, headers={"X-LD-Signature": sign(SECRET, unsupported)})
    invalid = client.post(HOOK, content=b"{}", headers={"X-LD-Signature": sign(SECRET, b"{}")})
    log = client.get("/_sandbox/flag-log").json()

    assert (good.status_code, good.content) == (200, b"")
    assert (wrong.status_code, wrong.json()) == (401, "Not authorized.")
    assert missing.status_code == 401
    assert ignored.status_code == 200
    assert invalid.status_code == 200  # Sentry drops an unusable body with 200 and its errors
    assert invalid.json()["name"] == ["This field is required."]
    assert log["rejected"] == 2
    assert log["entries"] == [
        {
            "action": "updateOn",
            "flag": "f",
            "created_at_ms": 1_700_000_000_000,
            "created_by": "a@example.com",
            "description": "turned on",
        }
    ]


def test_flag_change_is_delivered_signed_to_matching_webhooks(
    served: RunningServer, served_client: httpx.Client
) -> None:
    hook_url = served.url + HOOK
    served_client.post(SECRETS, json={"provider": "launchdarkly", "secret": SECRET}, headers=SENTRY_HEADERS)
    only_alpha = [{"effect": "allow", "resources": ["proj/alpha:env/production:flag/*"], "actions": ["*"]}]
    signed = create_webhook(served_client, hook_url, statements=only_alpha)
    create_webhook(served_client, hook_url, secret="z" * 32, statements=only_alpha)  # a secret Sentry lacks
    create_webhook(served_client, hook_url, on=False)  # off: never called

    alpha = served_client.post(
        "/_sandbox/flag-change", json={"project": "alpha", "environment": "production", "flag": "new-ui"}
    ).json()
    beta = served_client.post(
        "/_sandbox/flag-change", json={"project": "beta", "environment": "production", "flag": "x"}
    ).json()
    log = served_client.get("/_sandbox/flag-log").json()

    assert alpha["resource"] == "proj/alpha:env/production:flag/new-ui"
    assert [(d["webhook_id"] == signed["_id"], d["signed"], d["status"]) for d in alpha["deliveries"]] == [
        (True, True, 200),
        (False, True, 401),
    ]
    assert beta["deliveries"] == []
    assert [(e["flag"], e["action"]) for e in log["entries"]] == [("new-ui", "updateOn")]
    assert log["rejected"] == 1


def test_flag_change_needs_project_environment_and_flag(client: httpx.Client) -> None:
    response = client.post("/_sandbox/flag-change", json={"project": "alpha"})

    assert response.status_code == 400
    assert response.json() == {"error": "missing string fields: environment, flag"}
