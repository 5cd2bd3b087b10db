"""Flag change tracking (LaunchDarkly → Sentry): what `tracking setup` changes and how `tracking check` grades.

Pure functions over the config's mappings and the webhooks LaunchDarkly lists; no I/O. A LaunchDarkly
webhook posts every flag change to Sentry's hook URL, signed with a 32-character secret that Sentry
also holds (sentry-api.md §12, launchdarkly-api.md §1.8). Its policy statements decide which changes
it sends: ldsentry limits them to the mapped projects and environments unless asked for all.
"""

from __future__ import annotations

import fnmatch
import secrets as random_secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from ld_sentry_cli.grades import GradedReport, GradedRow
from ld_sentry_cli.models import ProjectMapping
from ld_sentry_cli.problems import Problem, problem
from ld_sentry_cli.secrets import REDACTED, register_secret
from ld_sentry_cli.tracking_models import SECRET_LENGTH, WEBHOOKS_PATH, LdWebhook, WebhookStatement, webhook_path

TAG = "ldsentry"
WEBHOOK_NAME = "Sentry flag change tracking (ldsentry)"
ALL_FLAGS = "proj/*:env/*:flag/*"
SETUP_HINT = "run `ldsentry tracking setup`"


def sentry_hook_url(base_url: str, organization: str) -> str:
    """Where Sentry receives LaunchDarkly's webhook for an organization (sentry-api.md §12)."""
    org = quote(organization, safe="")
    return f"{base_url.rstrip('/')}/api/0/organizations/{org}/flags/hooks/provider/launchdarkly/"


def sentry_settings_url(base_url: str, organization: str) -> str:
    """Sentry's Change Tracking settings page, where the secret can be pasted by hand."""
    return f"{base_url.rstrip('/')}/settings/{quote(organization, safe='')}/feature-flags/change-tracking/"


def generate_secret() -> str:
    """A new signing secret: 32 hex characters from the OS's cryptographic generator, registered for redaction."""
    secret = random_secrets.token_hex(SECRET_LENGTH // 2)
    register_secret(secret)
    return secret


def flag_resource(ld_project: str, ld_environment: str) -> str:
    """The policy resource of every flag in one LaunchDarkly environment."""
    return f"proj/{ld_project}:env/{ld_environment}:flag/*"


def environment_pairs(mappings: Sequence[ProjectMapping]) -> list[tuple[str, str, int | None]]:
    """Distinct (LaunchDarkly project, environment, first config line) of the mappings, in order."""
    seen: dict[tuple[str, str], int | None] = {}
    for mapping in mappings:
        seen.setdefault((mapping.ld_project, mapping.ld_environment), mapping.line)
    return [(project, env, line) for (project, env), line in seen.items()]


def same_url(left: str, right: str) -> bool:
    """True when two webhook URLs name the same endpoint (scheme and host case, trailing slash ignored)."""

    def key(url: str) -> tuple[str, str, str]:
        parts = urlsplit(url.strip())
        return (
            parts.scheme.lower(),
            parts.netloc.lower(),
            parts.path.rstrip("/") + ("?" + parts.query if parts.query else ""),
        )

    return key(left) == key(right)


def _matches(patterns: Iterable[str], value: str) -> bool:
    # A resource with `;tags` narrows the flags, so it never covers a whole environment.
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns if ";" not in pattern)


def _all_actions(statement: WebhookStatement) -> bool:
    if statement.not_actions:
        return False
    return not statement.actions or "*" in statement.actions


def _touches(patterns: Iterable[str], resource: str) -> bool:
    """True when a pattern names any flag of the resource's environment (`…:flag/checkout-*` included)."""
    environment = resource.split(":flag/", maxsplit=1)[0]
    return any(fnmatch.fnmatchcase(environment, p.split(":flag/", maxsplit=1)[0]) for p in patterns if ":flag/" in p)


def covers(statements: Sequence[WebhookStatement], resource: str) -> bool:
    """True when the statements send every flag change of `resource` (no statements: everything is sent).

    `resource` is a wildcard resource such as `proj/P:env/E:flag/*`; an allow statement covers it when
    one of its patterns matches it literally, so `flag/*` covers it and `flag/checkout-*` does not.
    A deny statement touching any flag of the environment leaves it partly uncovered.
    """
    if not statements:
        return True
    allowed = False
    for statement in statements:
        if statement.effect == "deny":
            if _touches(statement.resources, resource):
                return False
            continue
        if statement.effect != "allow" or not _all_actions(statement):
            continue
        if statement.resources:
            allowed = allowed or _matches(statement.resources, resource)
        elif statement.not_resources:
            allowed = allowed or not _touches(statement.not_resources, resource)
    return allowed


def find_webhook(webhooks: Sequence[LdWebhook], hook_url: str) -> LdWebhook | None:
    """The webhook posting to Sentry's hook URL; with several, the best one (on, signed, tagged)."""
    found = [w for w in webhooks if same_url(w.url, hook_url)]
    if not found:
        return None
    return max(found, key=lambda w: (w.on, w.signed, TAG in w.tags))


# --- setup ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedRequest:
    """One request setup would send: method, path, JSON body, and what it does."""

    method: str
    path: str
    body: Any
    purpose: str

    def masked_body(self) -> Any:
        """The body with any signing secret replaced, for display."""
        return _mask(self.body)


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("path") == "/secret" and "value" in value:
            return {**value, "value": REDACTED}
        return {k: (REDACTED if k == "secret" else _mask(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(item) for item in value]
    return value


@dataclass(frozen=True)
class SetupPlan:
    """What `tracking setup` does: the webhook found (if any), the LaunchDarkly requests, and the secret's fate."""

    hook_url: str
    webhook: LdWebhook | None
    requests: tuple[PlannedRequest, ...]
    resources: tuple[str, ...]  # what the statements should cover
    new_secret: bool  # the requests set a new signing secret, which Sentry must receive
    changes: tuple[str, ...] = ()  # what the PATCH of an existing webhook changes, in words

    @property
    def unchanged(self) -> bool:
        """True when nothing needs to change."""
        return not self.requests


def webhook_post_body(hook_url: str, resources: Sequence[str], secret: str) -> dict[str, Any]:
    """The `webhookPost` body: signed, on, tagged, limited to the resources (launchdarkly-api.md §1.8)."""
    return {
        "name": WEBHOOK_NAME,
        "url": hook_url,
        "sign": True,
        "secret": secret,
        "on": True,
        "tags": [TAG],
        "statements": [WebhookStatement("allow", resources=tuple(resources), actions=("*",)).to_json()],
    }


def plan_setup(
    webhooks: Sequence[LdWebhook],
    hook_url: str,
    mappings: Sequence[ProjectMapping],
    secret: str,
    *,
    all_projects: bool = False,
    rotate_secret: bool = False,
) -> SetupPlan:
    """Decide what to create or patch so that a signed, enabled webhook covers the mapped environments."""
    if all_projects:
        resources: tuple[str, ...] = (ALL_FLAGS,)
    else:
        resources = tuple(flag_resource(project, env) for project, env, _ in environment_pairs(mappings))
    webhook = find_webhook(webhooks, hook_url)
    if webhook is None:
        create = PlannedRequest(
            "POST",
            WEBHOOKS_PATH,
            webhook_post_body(hook_url, resources, secret),
            "create a signed, enabled webhook to Sentry's hook URL",
        )
        return SetupPlan(hook_url, None, (create,), resources, new_secret=True)
    # Each operation with the words that say what it changes.
    operations: list[tuple[dict[str, Any], str]] = []
    missing = [resource for resource in resources if not covers(webhook.statements, resource)]
    if missing:
        statement = WebhookStatement("allow", resources=tuple(missing), actions=("*",)).to_json()
        more = f"{len(missing)} more environment{'s' if len(missing) != 1 else ''}"
        operations.append(
            ({"op": "add", "path": "/statements/-", "value": statement}, f"extend its statements to {more}")
        )
    if not webhook.on:
        operations.append(({"op": "replace", "path": "/on", "value": True}, "turn it on"))
    new_secret = rotate_secret or not webhook.signed
    # `add` on an object member sets it whether or not it exists (RFC 6902 §4.1); `replace` fails on an
    # absent one, and the `Webhook` representation has no `sign` and, when unsigned, no `secret`.
    if not webhook.signed:
        operations.append(({"op": "add", "path": "/sign", "value": True}, "turn signing on"))
    if new_secret:
        operations.append(({"op": "add", "path": "/secret", "value": secret}, "set a new signing secret"))
    if not operations:
        return SetupPlan(hook_url, webhook, (), resources, new_secret=False)
    changes = tuple(change for _, change in operations)
    patch = PlannedRequest(
        "PATCH",
        webhook_path(webhook.id),
        [operation for operation, _ in operations],
        f"update webhook {webhook.id}: " + ", ".join(changes),
    )
    return SetupPlan(hook_url, webhook, (patch,), resources, new_secret=new_secret, changes=changes)


# --- check ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageRow(GradedRow):
    """One mapped LaunchDarkly environment: whether the webhook sends its flag changes, and its problems."""

    ld_project: str
    ld_environment: str
    covered: bool | None  # None: there is no usable webhook to ask
    problems: tuple[Problem, ...] = ()
    line: int | None = None

    @property
    def label(self) -> str:
        """`project/environment`."""
        return f"{self.ld_project}/{self.ld_environment}"


@dataclass(frozen=True)
class TrackingReport(GradedReport):
    """The graded state of flag change tracking: the webhook, its own problems, and one row per environment."""

    hook_url: str
    webhook: LdWebhook | None
    webhook_problems: tuple[Problem, ...]
    rows: tuple[CoverageRow, ...]

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Every problem: the webhook's, then each environment's own."""
        own = tuple(p for row in self.rows for p in row.problems if p not in self.webhook_problems)
        return self.webhook_problems + own


def webhook_problems(webhook: LdWebhook | None, hook_url: str) -> tuple[Problem, ...]:
    """What is wrong with the webhook itself: missing, off, or unsigned."""
    if webhook is None:
        return (
            problem(
                "tracking_webhook_missing",
                f"No LaunchDarkly webhook posts flag changes to Sentry's hook URL {hook_url}; {SETUP_HINT}.",
            ),
        )
    found: list[Problem] = []
    if not webhook.on:
        found.append(
            problem(
                "tracking_webhook_off",
                f"LaunchDarkly webhook {webhook.id} to Sentry is turned off, so no flag change reaches Sentry; "
                f"turn it on in LaunchDarkly (Integrations → Webhooks) or {SETUP_HINT}.",
            )
        )
    if not webhook.signed:
        found.append(
            problem(
                "tracking_webhook_unsigned",
                f"LaunchDarkly webhook {webhook.id} does not sign its deliveries, so Sentry rejects every one "
                "(401); run `ldsentry tracking setup --register-in-sentry` to turn signing on with a new secret.",
            )
        )
    return tuple(found)


def build_tracking_report(
    webhooks: Sequence[LdWebhook], hook_url: str, mappings: Sequence[ProjectMapping]
) -> TrackingReport:
    """Grade tracking: RED without an enabled webhook, AMBER when unsigned or partial, else GREEN."""
    webhook = find_webhook(webhooks, hook_url)
    own = webhook_problems(webhook, hook_url)
    rows = []
    for project, env, line in environment_pairs(mappings):
        if webhook is None:
            rows.append(CoverageRow(project, env, None, own, line))
            continue
        covered = covers(webhook.statements, flag_resource(project, env))
        extra: tuple[Problem, ...] = ()
        if not covered:
            extra = (
                problem(
                    "tracking_partial_coverage",
                    f"Flag changes in LaunchDarkly {project}/{env} do not reach Sentry: the statements of "
                    f"webhook {webhook.id} leave this environment out; {SETUP_HINT} to extend them.",
                ),
            )
        rows.append(CoverageRow(project, env, covered, own + extra, line))
    return TrackingReport(hook_url, webhook, own, tuple(rows))
