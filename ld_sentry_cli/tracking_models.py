"""Frozen dataclasses for flag change tracking: LaunchDarkly webhooks and their policy statements.

The LaunchDarkly webhooks client (launchdarkly_webhooks.py) builds them at its boundary; the
tracking domain (tracking.py) reads them. A webhook's secret is never held here: the client
registers it for redaction and keeps only whether the webhook signs its deliveries. The facts the
clients and the domain share (the webhooks path, the secret's length) are here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

WEBHOOKS_PATH = "/api/v2/webhooks"  # LaunchDarkly's webhooks collection (launchdarkly-api.md §1.8)
SECRET_LENGTH = 32  # a LaunchDarkly signing secret: exactly what Sentry accepts (sentry-api.md §12)


def webhook_path(webhook_id: str) -> str:
    """The path of one LaunchDarkly webhook."""
    return f"{WEBHOOKS_PATH}/{quote(webhook_id, safe='')}"


@dataclass(frozen=True)
class WebhookStatement:
    """One policy statement of a webhook (`StatementPost`): which changes it sends (launchdarkly-api.md §1.8)."""

    effect: str
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The statement as LaunchDarkly takes it, empty lists left out."""
        body: dict[str, Any] = {"effect": self.effect}
        for name, values in (
            ("resources", self.resources),
            ("notResources", self.not_resources),
            ("actions", self.actions),
            ("notActions", self.not_actions),
        ):
            if values:
                body[name] = list(values)
        return body


@dataclass(frozen=True)
class LdWebhook:
    """A LaunchDarkly webhook, reduced to what tracking needs (its secret is not kept)."""

    id: str
    url: str
    on: bool
    signed: bool
    name: str | None = None
    tags: tuple[str, ...] = ()
    statements: tuple[WebhookStatement, ...] = ()  # none: the webhook sends every change
