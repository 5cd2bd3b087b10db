"""`doctor`: one self-check of everything `status` and `events check` need, with what to do next.

Each check is independent, so one failure never hides the others; the caller decides how to show
them. Facts come through small Protocols so tests pass fakes.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from ld_sentry_cli.api_models import LdCaller, SentryAuth
from ld_sentry_cli.errors import LdsentryError
from ld_sentry_cli.grades import Status
from ld_sentry_cli.models import ProjectMapping
from ld_sentry_cli.scrubbing import ScrubbingSource, audit
from ld_sentry_cli.tasks import run_all
from ld_sentry_cli.tracking import build_tracking_report
from ld_sentry_cli.tracking_models import LdWebhook

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


class WebhookSource(Protocol):
    """What doctor asks LaunchDarkly about flag change tracking."""

    async def list_webhooks(self) -> list[LdWebhook]:
        """Every webhook of the account."""


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


TRACKING = "Flag change tracking"


async def check_tracking(source: WebhookSource, hook_url: str, mappings: Sequence[ProjectMapping]) -> list[Check]:
    """The `tracking check` grade as one row: optional, so only a webhook that is there but off fails."""
    try:
        webhooks = await source.list_webhooks()
    except LdsentryError as error:
        return [Check(TRACKING, CheckStatus.WARN, f"not checked: {error.message}", error.hint)]
    report = build_tracking_report(webhooks, hook_url, mappings)
    if report.webhook is None:
        return [
            Check(
                TRACKING,
                CheckStatus.WARN,
                "not set up: no LaunchDarkly webhook sends flag changes to Sentry.",
                "Run `ldsentry tracking setup --register-in-sentry` to show flag changes beside errors in Sentry.",
            )
        ]
    if report.status is Status.GREEN:
        count = len(report.rows)
        return [
            Check(
                TRACKING,
                CheckStatus.OK,
                f"webhook {report.webhook.id} sends the flag changes of {count} mapped environment"
                f"{'s' if count != 1 else ''} to Sentry, signed.",
            )
        ]
    status = CheckStatus.FAIL if report.status is Status.RED else CheckStatus.WARN
    first = report.problems[0]
    more = len(report.problems) - 1
    return [
        Check(TRACKING, status, first.message, f"and {more} more: run `ldsentry tracking check`." if more else None)
    ]


SCRUBBING_CHECK = "Data scrubbing"


async def check_scrubbing(source: ScrubbingSource, project_slugs: list[str]) -> list[Check]:
    """Whether Sentry's scrubbing filters the context's kind or key (fail) or other members (warn)."""
    if not project_slugs:
        return [Check(SCRUBBING_CHECK, CheckStatus.OK, "no mapped Sentry project to check")]
    try:
        organization, *read = await run_all(
            [source.organization_settings(), *(source.project_settings(slug) for slug in project_slugs)]
        )
    except LdsentryError as error:
        return [failed(SCRUBBING_CHECK, error)]
    essential, other = [], []
    for slug, settings in zip(project_slugs, read, strict=True):
        if settings is None:
            continue  # a missing project is `status`'s finding, not this row's
        result = audit(settings, organization, [], project_slug=slug)
        essential += [f"{slug}: {r.member} by {r.setting}" for r in result.essential_risks]
        other += [f"{slug}: {r.member} by {r.setting}" for r in result.risks if not r.essential]
    unknown = "" if organization is not None else " (the organization's own settings are not visible to this token)"
    if essential:
        return [
            Check(
                SCRUBBING_CHECK,
                CheckStatus.FAIL,
                f"Sentry would filter launchdarklyContext's kind or key: {'; '.join(essential)}{unknown}",
                "Run `ldsentry events check` for the exact setting and fix per mapping.",
            )
        ]
    if other or organization is None:
        detail = f"may filter: {'; '.join(other)}" if other else "no project setting filters kind or key"
        return [
            Check(SCRUBBING_CHECK, CheckStatus.WARN, f"{detail}{unknown}", "Run `ldsentry events check` to see more.")
        ]
    count = len(project_slugs)
    return [
        Check(
            SCRUBBING_CHECK,
            CheckStatus.OK,
            f"no setting filters launchdarklyContext's kind or key in {count} mapped project"
            f"{'s' if count != 1 else ''}",
        )
    ]


def all_ok(checks: list[Check]) -> bool:
    """True when no check failed (warnings are fine)."""
    return all(check.status is not CheckStatus.FAIL for check in checks)
