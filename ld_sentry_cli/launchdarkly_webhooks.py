"""LaunchDarkly's webhooks API (`/api/v2/webhooks`), used by `ldsentry tracking`.

It shares the LaunchDarkly client's `ApiSession` and parses every webhook into an `LdWebhook` at
this boundary. Webhook secrets stop here: each one is registered with secrets.py, so that
redaction masks it wherever it might appear, and only whether the webhook signs is kept
(launchdarkly-api.md §1.8).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from ld_sentry_cli.errors import ApiError, PermissionDeniedError
from ld_sentry_cli.http import ApiSession
from ld_sentry_cli.launchdarkly import SERVICE
from ld_sentry_cli.secrets import register_secret
from ld_sentry_cli.tracking_models import WEBHOOKS_PATH, LdWebhook, WebhookStatement, webhook_path

MAX_PAGES = 100
T = TypeVar("T")

# The webhook actions of LaunchDarkly's role policies (resource `webhook/*`); said whenever a 403 comes back.
ROLE_HINT = (
    "The LaunchDarkly access token's role must allow managing webhooks: use a token with the Admin (or Owner) "
    "role, or a custom role that allows createWebhook, updateOn, updateSign, updateSecret and updateStatements "
    "on webhook/* (reading them needs at least Reader)."
)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def parse_statement(payload: Any) -> WebhookStatement:
    """A policy statement (`Statement`); an effect other than allow/deny is kept as sent."""
    if not isinstance(payload, Mapping):
        raise ApiError(f"{SERVICE} sent a webhook statement that is not a JSON object.")
    effect = payload.get("effect")
    return WebhookStatement(
        effect=effect if isinstance(effect, str) else "",
        resources=_strings(payload.get("resources")),
        not_resources=_strings(payload.get("notResources")),
        actions=_strings(payload.get("actions")),
        not_actions=_strings(payload.get("notActions")),
    )


def parse_webhook(payload: Any) -> LdWebhook:
    """A webhook (`Webhook`); its secret is registered for redaction and dropped here."""
    if not isinstance(payload, Mapping):
        raise ApiError(f"{SERVICE} sent a webhook that is not a JSON object.")
    webhook_id = payload.get("_id")
    url = payload.get("url")
    if not isinstance(webhook_id, str) or not webhook_id or not isinstance(url, str):
        raise ApiError(f"{SERVICE} sent a webhook without an _id or url.")
    secret = payload.get("secret")
    if isinstance(secret, str):
        register_secret(secret)
    # The `Webhook` representation documents no `sign` field, only `secret`: a signed webhook has one.
    # Newer responses may carry `sign` itself (unverified), which then decides.
    sign = payload.get("sign")
    signed = sign if isinstance(sign, bool) else isinstance(secret, str) and bool(secret)
    statements = payload.get("statements")
    name = payload.get("name")
    return LdWebhook(
        id=webhook_id,
        url=url,
        on=payload.get("on") is True,
        signed=signed,
        name=name if isinstance(name, str) else None,
        tags=_strings(payload.get("tags")),
        statements=tuple(parse_statement(s) for s in statements) if isinstance(statements, list) else (),
    )


def _next_page(body: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
    """The path and query of `_links.next`, when the collection names one."""
    links = body.get("_links")
    nxt = links.get("next") if isinstance(links, Mapping) else None
    href = nxt.get("href") if isinstance(nxt, Mapping) else None
    if not isinstance(href, str) or not href:
        return None
    parts = urlsplit(href)
    return parts.path or WEBHOOKS_PATH, dict(parse_qsl(parts.query))


class LaunchDarklyWebhooks:
    """List, create and patch LaunchDarkly webhooks over the LaunchDarkly client's session."""

    def __init__(self, session: ApiSession) -> None:
        self.session = session

    async def list_webhooks(self) -> list[LdWebhook]:
        """Every webhook of the account.

        `getAllWebhooks` declares no paging parameters and its collection no `totalCount`, so the
        first request sends none; should the server page anyway, `_links.next` is followed, as for
        every LaunchDarkly collection (docs/design.md "HTTP").
        """
        items: list[Any] = []
        path: str = WEBHOOKS_PATH
        params: dict[str, str] = {}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for _ in range(MAX_PAGES):
            seen.add((path, tuple(sorted(params.items()))))
            body = await self._call(self.session.get_json(path, params=params or None))
            page = body.get("items") if isinstance(body, Mapping) else None
            if not isinstance(page, list):
                raise ApiError(f"{SERVICE} sent a webhooks collection without 'items' (GET {WEBHOOKS_PATH}).")
            items.extend(page)
            following = _next_page(body) if page else None
            if following is None or (following[0], tuple(sorted(following[1].items()))) in seen:
                return [parse_webhook(item) for item in items]
            path, params = following
        raise ApiError(f"{SERVICE} returned more than {MAX_PAGES} pages for GET {WEBHOOKS_PATH}.")

    async def create_webhook(self, body: Mapping[str, Any]) -> LdWebhook:
        """Create a webhook (`postWebhook`); never retried, since a retry could create a second one."""
        response = await self._call(self.session.request("POST", WEBHOOKS_PATH, json_body=dict(body), retry=False))
        return parse_webhook(response.body)

    async def patch_webhook(self, webhook_id: str, operations: Sequence[Mapping[str, Any]]) -> LdWebhook:
        """Apply JSON Patch operations to a webhook (`patchWebhook`)."""
        response = await self._call(
            self.session.request(
                "PATCH", webhook_path(webhook_id), json_body=[dict(op) for op in operations], retry=False
            )
        )
        return parse_webhook(response.body)

    @staticmethod
    async def _call(pending: Awaitable[T]) -> T:
        # A 403 here is about webhooks, not metrics: say which role to give the token.
        try:
            return await pending
        except PermissionDeniedError as error:
            raise PermissionDeniedError(error.message, ROLE_HINT, status=error.status) from None
