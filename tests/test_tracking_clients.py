"""The webhooks and signing-secret clients: parsing, paging, errors, and every request against the contracts.

LaunchDarkly's webhooks operations are in its OpenAPI document, so their requests are validated
against it. Sentry's signing-secrets endpoint is PRIVATE and absent from Sentry's public document
(sentry-api.md §12): its request is checked against the shape the reference describes instead.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest
import respx
from contracts import validate_httpx_request, validate_response
from support import FakeTime

from ld_sentry_cli import secrets
from ld_sentry_cli.errors import ApiError, NotFoundError, PermissionDeniedError
from ld_sentry_cli.launchdarkly import LaunchDarklyClient
from ld_sentry_cli.launchdarkly_webhooks import ROLE_HINT, LaunchDarklyWebhooks, parse_webhook
from ld_sentry_cli.sentry import SentryClient
from ld_sentry_cli.sentry_flags import SCOPE_HINT, SentryFlags
from ld_sentry_cli.tracking import plan_setup
from ld_sentry_cli.tracking_models import LdWebhook, WebhookStatement

T = TypeVar("T")
LD = "https://app.launchdarkly.com"
SENTRY = "https://sentry.io"
HOOK = "https://sentry.io/api/0/organizations/acme/flags/hooks/provider/launchdarkly/"
SECRET = "0123456789abcdef0123456789abcdef"
STORED_SECRET = "d3adb33fd3adb33fd3adb33fd3adb33f"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def webhook_payload(webhook_id: str = "57be1db38b75bf0772d11384", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "_links": {"self": {"href": f"/api/v2/webhooks/{webhook_id}", "type": "application/json"}},
        "_id": webhook_id,
        "name": "Sentry flag change tracking (ldsentry)",
        "url": HOOK,
        "secret": STORED_SECRET,
        "statements": [{"effect": "allow", "resources": ["proj/default:env/production:flag/*"], "actions": ["*"]}],
        "on": True,
        "tags": ["ldsentry"],
        "_access": {"denied": [], "allowed": []},
    }
    payload.update(extra)
    validate_response("launchdarkly", "GET", f"/api/v2/webhooks/{webhook_id}", 200, payload)
    return payload


async def with_webhooks(work: Any) -> Any:
    async with LaunchDarklyClient("api-test", options=FakeTime().options()) as ld:
        return await work(LaunchDarklyWebhooks(ld.session))


def test_parse_webhook_keeps_no_secret_and_registers_it() -> None:
    webhook = parse_webhook(webhook_payload())

    assert webhook == LdWebhook(
        id="57be1db38b75bf0772d11384",
        url=HOOK,
        on=True,
        signed=True,
        name="Sentry flag change tracking (ldsentry)",
        tags=("ldsentry",),
        statements=(WebhookStatement("allow", ("proj/default:env/production:flag/*",), (), ("*",)),),
    )
    assert STORED_SECRET not in repr(webhook)
    assert secrets.redact(f"x{STORED_SECRET}x") == "x[REDACTED]x"


@pytest.mark.parametrize(
    ("extra", "signed"),
    [
        ({}, True),  # the documented reading: a signed webhook carries its secret
        ({"secret": ""}, False),
        ({"sign": False}, False),  # a newer `sign` field decides when present (unverified)
        ({"sign": True, "secret": "****"}, True),  # a masked secret still means signed
    ],
)
def test_signed_under_both_readings(extra: dict[str, Any], signed: bool) -> None:
    payload = webhook_payload(**extra)
    if extra.get("secret") == "":
        del payload["secret"]
    assert parse_webhook(payload).signed is signed


def test_list_webhooks_sends_no_paging_parameters_and_follows_next_links() -> None:
    with respx.mock(base_url=LD) as router:
        first = {
            "_links": {"self": {"href": "/api/v2/webhooks"}, "next": {"href": "/api/v2/webhooks?offset=1&limit=1"}},
            "items": [webhook_payload("a")],
        }
        second = {"_links": {"self": {"href": "/api/v2/webhooks?offset=1&limit=1"}}, "items": [webhook_payload("b")]}
        route = router.get("/api/v2/webhooks").mock(
            side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
        )

        found = run(with_webhooks(lambda hooks: hooks.list_webhooks()))

    assert [w.id for w in found] == ["a", "b"]
    assert [str(call.request.url) for call in route.calls] == [
        f"{LD}/api/v2/webhooks",
        f"{LD}/api/v2/webhooks?offset=1&limit=1",
    ]
    validate_httpx_request("launchdarkly", route.calls[0].request)  # the first request is the documented one


def test_create_and_patch_send_contract_valid_bodies_once() -> None:
    plan = plan_setup([], HOOK, (), SECRET, all_projects=True)
    existing = parse_webhook(webhook_payload("w1", on=False))
    patch = plan_setup([existing], HOOK, (), SECRET, all_projects=True, rotate_secret=True)
    with respx.mock(base_url=LD) as router:
        post = router.post("/api/v2/webhooks").mock(return_value=httpx.Response(200, json=webhook_payload("w2")))
        patched = router.patch("/api/v2/webhooks/w1").mock(return_value=httpx.Response(200, json=webhook_payload("w1")))

        async def work(hooks: LaunchDarklyWebhooks) -> tuple[LdWebhook, LdWebhook]:
            return await hooks.create_webhook(plan.requests[0].body), await hooks.patch_webhook(
                "w1", patch.requests[0].body
            )

        created, updated = run(with_webhooks(work))

    for call in (*post.calls, *patched.calls):
        validate_httpx_request("launchdarkly", call.request)
    assert json.loads(post.calls[0].request.content)["secret"] == SECRET
    assert json.loads(patched.calls[0].request.content) == [
        {
            "op": "add",
            "path": "/statements/-",
            "value": {"effect": "allow", "resources": ["proj/*:env/*:flag/*"], "actions": ["*"]},
        },
        {"op": "replace", "path": "/on", "value": True},
        {"op": "add", "path": "/secret", "value": SECRET},
    ]
    assert (created.id, updated.id) == ("w2", "w1")


def test_a_failed_create_is_not_retried() -> None:
    with respx.mock(base_url=LD) as router:
        post = router.post("/api/v2/webhooks").mock(
            return_value=httpx.Response(503, json={"code": "x", "message": "down"})
        )
        with pytest.raises(ApiError):
            run(with_webhooks(lambda hooks: hooks.create_webhook({"url": HOOK, "sign": True, "on": True})))

    assert post.call_count == 1


def test_forbidden_names_the_webhook_role() -> None:
    with respx.mock(base_url=LD) as router:
        router.post("/api/v2/webhooks").mock(
            return_value=httpx.Response(
                403, json={"code": "forbidden", "message": "Access to the requested resource was denied."}
            )
        )
        with pytest.raises(PermissionDeniedError) as caught:
            run(with_webhooks(lambda hooks: hooks.create_webhook({"url": HOOK, "sign": True, "on": True})))

    assert caught.value.hint == ROLE_HINT
    assert caught.value.message == (
        "LaunchDarkly denied permission (HTTP 403 on POST /api/v2/webhooks): Access to the requested resource was "
        "denied. (forbidden)"
    )


async def with_flags(work: Any) -> Any:
    async with SentryClient("sntryu_" + "a" * 64, "acme", options=FakeTime().options()) as sentry:
        return await work(SentryFlags(sentry.session, sentry.organization))


def test_register_signing_secret_sends_the_described_body() -> None:
    with respx.mock(base_url=SENTRY) as router:
        route = router.post("/api/0/organizations/acme/flags/signing-secrets/").mock(return_value=httpx.Response(201))

        run(with_flags(lambda flags: flags.register_signing_secret(SECRET)))

    request = route.calls[0].request
    # Not in Sentry's public OpenAPI document (PRIVATE): the shape of sentry-api.md §12 instead.
    assert request.headers["Authorization"] == "Bearer sntryu_" + "a" * 64
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {"provider": "launchdarkly", "secret": SECRET}
    assert secrets.redact(SECRET) == "[REDACTED]"


@pytest.mark.parametrize(
    ("status", "body", "kind", "hint_start"),
    [
        (403, {"detail": "You do not have permission to perform this action."}, PermissionDeniedError, SCOPE_HINT),
        (404, {"detail": "The requested resource does not exist"}, NotFoundError, "Register the secret by hand"),
        (
            400,
            {"secret": ["Ensure this field has no more than 32 characters."]},
            ApiError,
            "Register the secret by hand",
        ),
    ],
)
def test_register_errors_say_what_to_do(status: int, body: Any, kind: type[Exception], hint_start: str) -> None:
    with respx.mock(base_url=SENTRY) as router:
        route = router.post("/api/0/organizations/acme/flags/signing-secrets/").mock(
            return_value=httpx.Response(status, json=body)
        )
        with pytest.raises(kind) as caught:
            run(with_flags(lambda flags: flags.register_signing_secret(SECRET)))

    assert route.call_count == 1  # a POST that replaces a secret is never retried
    assert getattr(caught.value, "hint", "").startswith(hint_start)
    assert SECRET not in str(caught.value)


def test_register_refuses_a_secret_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="32 characters"):
        run(with_flags(lambda flags: flags.register_signing_secret("short-secret")))
