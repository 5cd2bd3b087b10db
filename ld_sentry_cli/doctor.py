"""`doctor`: one self-check of everything `status` and `events check` need, with what to do next.

Each check is independent, so one failure never hides the others; the caller decides how to show
them. Facts come through small Protocols so tests pass fakes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from ld_sentry_cli.errors import LdsentryError
from ld_sentry_cli.models import LdCaller, SentryAuth

# Any of these satisfies each need (Sentry scopes: read < write < admin; sentry-api.md §1).
SENTRY_NEEDS = {
    "org:read": ("org:read", "org:write", "org:admin"),
    "project:read": ("project:read", "project:write", "project:admin"),
    "event:read": ("event:read", "event:write", "event:admin"),
}


class CheckStatus(str, enum.Enum):
    """Outcome of one check: ok, warn (works, but read the note) or fail."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    status: CheckStatus
    message: str
    hint: str | None = None


class CallerSource(Protocol):
    """What doctor asks LaunchDarkly."""

    async def caller_identity(self) -> LdCaller:
        """Who the token belongs to."""


class ScopeSource(Protocol):
    """What doctor asks Sentry."""

    async def auth_info(self) -> SentryAuth:
        """The token's scopes."""


def failed(name: str, error: LdsentryError) -> Check:
    """A failed check from an ldsentry error (missing token, rejected token, unreachable host)."""
    return Check(name, CheckStatus.FAIL, error.message, error.hint)


async def check_launchdarkly(client: CallerSource, base_url: str, instance: str) -> list[Check]:
    """Token accepted (caller identity), instance named, and the notes that apply to it."""
    checks = []
    try:
        caller = await client.caller_identity()
    except LdsentryError as error:
        checks.append(failed("LaunchDarkly token", error))
    else:
        who = caller.token_name or caller.member_email or "a token"
        kind = f" ({caller.token_kind} token)" if caller.token_kind else ""
        checks.append(Check("LaunchDarkly token", CheckStatus.OK, f"accepted: {who}{kind}"))
    names = {"commercial": "commercial", "eu": "EU", "federal": "federal", "custom": "custom (self-hosted or emulator)"}
    checks.append(Check("LaunchDarkly instance", CheckStatus.OK, f"{names.get(instance, instance)} at {base_url}"))
    if instance in ("eu", "federal"):
        checks.append(
            Check(
                "Hosted Sentry integration",
                CheckStatus.WARN,
                f"LaunchDarkly's hosted Sentry integration is not offered on the {names[instance]} instance.",
                "Forward the errors with `ldsentry relay serve` (its token needs the importEventData "
                "permission), or call the SDK's track() from Sentry's before_send hook.",
            )
        )
    else:
        checks.append(
            Check(
                "Hosted Sentry integration",
                CheckStatus.OK,
                "offered on this instance as an early-access, plan-gated feature.",
                "If your plan lacks it, `ldsentry relay serve` forwards the errors instead (its token needs "
                "the importEventData permission; Sentry's error webhooks need a Business plan).",
            )
        )
    return checks


def sentry_instance(base_url: str) -> str:
    """Name a Sentry base URL: sentry.io (US or EU region) or self-hosted."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host in ("sentry.io", "us.sentry.io"):
        return "sentry.io (US)"
    if host == "de.sentry.io":
        return "sentry.io (EU)"
    return "self-hosted"


async def check_sentry(client: ScopeSource, base_url: str, organization: str) -> list[Check]:
    """Token accepted with the scopes ldsentry needs, and where Sentry is."""
    checks = [
        Check("Sentry instance", CheckStatus.OK, f"{sentry_instance(base_url)} at {base_url}, org {organization!r}")
    ]
    try:
        auth = await client.auth_info()
    except LdsentryError as error:
        checks.append(failed("Sentry token", error))
        return checks
    missing = [need for need, accepted in SENTRY_NEEDS.items() if not set(accepted) & set(auth.scopes)]
    if missing:
        checks.append(
            Check(
                "Sentry token",
                CheckStatus.FAIL,
                f"accepted, but missing scope{'s' if len(missing) > 1 else ''}: {', '.join(missing)}",
                "Create an internal integration token with org:read, project:read and event:read.",
            )
        )
    else:
        checks.append(Check("Sentry token", CheckStatus.OK, f"accepted with {', '.join(sorted(auth.scopes))}"))
    return checks


def all_ok(checks: list[Check]) -> bool:
    """True when no check failed (warnings are fine)."""
    return all(check.status is not CheckStatus.FAIL for check in checks)
