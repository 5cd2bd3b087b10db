"""Flag change tracking as the sandbox holds it: LaunchDarkly webhooks, Sentry's signing secrets and flag log.

Empty when a sandbox starts and after a reset; the webhooks routes, Sentry's flag routes and the
flag-change admin route share it (launchdarkly-api.md §1.8, sentry-api.md §12).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class WebhookRecord:
    """A LaunchDarkly webhook as stored, in the shape of its JSON representation (keys as the API names them)."""

    id: str
    document: dict[str, Any]


@dataclass(frozen=True)
class SigningSecret:
    """One Sentry signing secret: provider, value, who set it (the token) and when."""

    id: int
    provider: str
    secret: str
    created_by: str
    created_at: str


@dataclass(frozen=True)
class FlagLogEntry:
    """A flag change Sentry's hook accepted (what Sentry writes to its flag audit log)."""

    action: str
    flag: str
    created_at_ms: int
    created_by: str | None
    description: str


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery the sandbox made for a flag change, and how the receiver answered."""

    webhook_id: str
    url: str
    signed: bool
    status: int | None
    error: str | None = None


@dataclass
class TrackingWorld:
    """Everything tracking-related one sandbox holds."""

    webhooks: dict[str, WebhookRecord] = field(default_factory=dict)
    signing_secrets: dict[str, SigningSecret] = field(default_factory=dict)  # by provider
    flag_log: list[FlagLogEntry] = field(default_factory=list)
    rejected_hooks: int = 0  # hook requests answered 401
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _next_id: int = 0

    def new_id(self) -> int:
        """A fresh sequence number for ids."""
        with self.lock:
            self._next_id += 1
            return self._next_id
