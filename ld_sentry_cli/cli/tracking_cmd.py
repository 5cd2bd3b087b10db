"""`ldsentry tracking setup|check`: send LaunchDarkly flag changes to Sentry's change tracking, and grade it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from ld_sentry_cli import secrets
from ld_sentry_cli.cli import live
from ld_sentry_cli.cli.console import emit_json, json_text, say
from ld_sentry_cli.cli.options import (
    ConfigOption,
    OutputFormat,
    OutputOption,
    PlainFormat,
    PlainOutputOption,
    StrictOption,
)
from ld_sentry_cli.cli.output import emit_report
from ld_sentry_cli.cli.runner import command_errors
from ld_sentry_cli.config import ConfigFile, load_config, locate_config
from ld_sentry_cli.errors import ExitCode, LdsentryError, UsageError
from ld_sentry_cli.launchdarkly_webhooks import LaunchDarklyWebhooks
from ld_sentry_cli.render.tracking import request_lines, setup_json, tracking_json, tracking_table, tracking_view
from ld_sentry_cli.sentry import SentryClient, sentry_base_url, sentry_organization
from ld_sentry_cli.sentry_flags import PROVIDER, SentryFlags, signing_secrets_path
from ld_sentry_cli.tracking import (
    ALL_FLAGS,
    SetupPlan,
    build_tracking_report,
    generate_secret,
    plan_setup,
    sentry_hook_url,
    sentry_settings_url,
)
from ld_sentry_cli.tracking_models import LdWebhook

app = typer.Typer(
    help=(
        "Send LaunchDarkly flag changes to Sentry (Sentry's feature flag change tracking): set up the signed "
        "LaunchDarkly webhook, and check it."
    ),
    no_args_is_help=True,
)

_NOT_PUBLIC_WARNING = (
    "warning: --register-in-sentry uses Sentry's {endpoint} endpoint, which is not part of Sentry's public API "
    "and may change without notice. Sentry keeps one LaunchDarkly signing secret per organization: this "
    "replaces any secret another LaunchDarkly account already uses, and that account's flag changes will then "
    "be rejected."
)


@dataclass(frozen=True)
class _Target:
    """Where tracking points: the loaded config, the Sentry base URL and organization, and the hook URL."""

    loaded: ConfigFile
    sentry_base: str
    organization: str
    hook_url: str


def _target(config: ConfigOption) -> _Target:
    loaded = load_config(*locate_config(config))
    base = sentry_base_url(loaded.config.sentry.base_url)
    organization = sentry_organization(loaded.config.sentry.organization)
    return _Target(loaded, base, organization, sentry_hook_url(base, organization))


def _ui_steps(target: _Target, secret_shown: bool) -> list[str]:
    where = sentry_settings_url(target.sentry_base, target.organization)
    secret = "the signing secret printed above" if secret_shown else "the signing secret"
    return [
        f"In Sentry, open Settings → Feature Flags → Change Tracking ({where}).",
        f"Add LaunchDarkly as a provider and paste {secret} (32 characters).",
        "Save. ldsentry keeps no copy of the secret: Sentry and LaunchDarkly hold the only ones.",
    ]


@app.command("setup")
@command_errors
def setup(
    config: ConfigOption = None,
    all_projects: Annotated[
        bool,
        typer.Option("--all-projects", help="Send the flag changes of every project, not only the mapped ones."),
    ] = False,
    register_in_sentry: Annotated[
        bool,
        typer.Option(
            "--register-in-sentry",
            help="Register the new signing secret in Sentry through its (non-public) API; needs org:write.",
        ),
    ] = False,
    show_secret: Annotated[
        bool, typer.Option("--show-secret", help="Print the new signing secret, to paste it in Sentry yourself.")
    ] = False,
    rotate_secret: Annotated[
        bool, typer.Option("--rotate-secret", help="Give an existing webhook a new signing secret.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show every request body (secret masked); send nothing.")
    ] = False,
    output: PlainOutputOption = PlainFormat.TABLE,
) -> int:
    """Create or extend the signed LaunchDarkly webhook that posts flag changes to Sentry (idempotent)."""
    target = _target(config)
    mappings = target.loaded.config.mappings
    if not all_projects and not mappings:
        raise UsageError(
            f"{target.loaded.display} has no mappings, so there is no LaunchDarkly environment to track",
            "Add a mapping with `ldsentry mappings create`, or pass --all-projects.",
        )
    secret = generate_secret()

    async def work() -> tuple[SetupPlan, LdWebhook | None, bool]:
        async with live.session(target.loaded.config) as clients:
            hooks = LaunchDarklyWebhooks(clients.launchdarkly().session)
            sentry = clients.sentry() if register_in_sentry and not dry_run else None
            webhooks = await hooks.list_webhooks()
            plan = plan_setup(
                webhooks, target.hook_url, mappings, secret, all_projects=all_projects, rotate_secret=rotate_secret
            )
            if dry_run or plan.unchanged:
                return plan, None, False
            if plan.new_secret and not register_in_sentry and not show_secret:
                raise UsageError(
                    "The webhook gets a new signing secret, and Sentry must receive it or it rejects every delivery; "
                    "nothing was sent.",
                    "Add --register-in-sentry to register it through Sentry's API, or --show-secret to paste it "
                    "in Sentry's settings yourself (--dry-run shows the requests first).",
                )
            result = await _apply(hooks, plan)
            registered = False
            if plan.new_secret and sentry is not None:
                registered = await _register(sentry, secret)
            return plan, result, registered

    plan, result, registered = asyncio.run(work())
    if (register_in_sentry or show_secret) and not plan.new_secret:
        say(
            "note: the webhook keeps its signing secret, which ldsentry never reads back, so there is nothing to "
            "register or show; if Sentry lacks it, run again with --rotate-secret."
        )
    shown = show_secret and plan.new_secret and not dry_run
    sentry_part = _sentry_part(target, plan, dry_run=dry_run, register=register_in_sentry, registered=registered)
    if output is PlainFormat.JSON:
        document = setup_json(plan, dry_run=dry_run, result=result, sentry=sentry_part)
        _emit_json_with_secret(document, secret if shown else None)
        return ExitCode.OK
    _print_setup(target, plan, result, sentry_part, dry_run=dry_run, secret=secret if shown else None)
    return ExitCode.OK


async def _apply(hooks: LaunchDarklyWebhooks, plan: SetupPlan) -> LdWebhook | None:
    """Send the planned LaunchDarkly requests; the webhook as LaunchDarkly returns it."""
    result = None
    for request in plan.requests:
        if request.method == "POST":
            result = await hooks.create_webhook(request.body)
        elif plan.webhook is not None:
            result = await hooks.patch_webhook(plan.webhook.id, request.body)
    return result


async def _register(sentry: SentryClient, secret: str) -> bool:
    """Register the secret in Sentry after the warning; a failure says how to finish by hand."""
    say(_NOT_PUBLIC_WARNING.format(endpoint=f"POST {signing_secrets_path(sentry.organization)}"))
    try:
        await SentryFlags(sentry.session, sentry.organization).register_signing_secret(secret)
    except LdsentryError as error:
        error.hint = (
            f"{error.hint + ' ' if error.hint else ''}The LaunchDarkly webhook is set up, but Sentry does not hold "
            "its new secret yet, so it rejects every delivery: once fixed, run `ldsentry tracking setup "
            "--rotate-secret --register-in-sentry`."
        )
        raise
    return True


def _sentry_part(
    target: _Target, plan: SetupPlan, *, dry_run: bool, register: bool, registered: bool
) -> dict[str, Any]:
    """The Sentry half of setup's result: registered, to be registered, or the steps for Sentry's UI."""
    endpoint = signing_secrets_path(target.organization)
    needed = plan.new_secret
    return {
        "organization": target.organization,
        "secret_needed": needed,
        "registered": registered,
        "request": (
            {"method": "POST", "path": endpoint, "body": {"provider": PROVIDER, "secret": secrets.REDACTED}}
            if needed and register and dry_run
            else None
        ),
        "steps": _ui_steps(target, secret_shown=False) if needed and not register else [],
    }


def _emit_json_with_secret(document: dict[str, Any], secret: str | None) -> None:
    """Print the JSON document, secrets masked; the one asked-for secret is added after masking."""
    if secret is None:
        emit_json(document)
        return
    masked = json.loads(secrets.redact(json.dumps(document)))
    typer.echo(json_text({**masked, "secret": secret}))


def _print_setup(
    target: _Target,
    plan: SetupPlan,
    result: LdWebhook | None,
    sentry_part: dict[str, Any],
    *,
    dry_run: bool,
    secret: str | None,
) -> None:
    lines: list[str] = []
    count = len(plan.resources)
    covered = "every project" if plan.resources == (ALL_FLAGS,) else f"{count} environment{'s' if count != 1 else ''}"
    if plan.unchanged:
        assert plan.webhook is not None
        lines.append(
            f"Nothing to change: LaunchDarkly webhook {plan.webhook.id} already posts the flag changes of "
            f"{covered} to {target.hook_url}, signed and on."
        )
    elif dry_run:
        lines.append("Dry run: nothing was sent. These requests would be:")
        for request in plan.requests:
            lines.append(f"\n# {request.purpose}")
            lines.append(request_lines(request.method, request.path, request.masked_body()))
        if sentry_part["request"] is not None:
            lines.append("\n# register the new signing secret in Sentry (not a public endpoint)")
            lines.append(request_lines("POST", sentry_part["request"]["path"], sentry_part["request"]["body"]))
    elif plan.webhook is None:
        webhook_id = result.id if result is not None else "?"
        lines.append(
            f"Created LaunchDarkly webhook {webhook_id}: signed, on, tagged ldsentry, posting the flag changes of "
            f"{covered} to {target.hook_url}."
        )
    else:
        lines.append(f"Updated LaunchDarkly webhook {plan.webhook.id}: {', '.join(plan.changes)}.")
    if sentry_part["registered"]:
        lines.append(f"Registered the new signing secret in Sentry organization {target.organization!r}.")
    if secret is not None:
        lines.append(f"Signing secret (shown once, stored nowhere by ldsentry): {secret}")
    if sentry_part["steps"] and not dry_run:
        lines.append("\nSentry must hold the same signing secret, or it rejects every delivery (401):")
        steps = _ui_steps(target, secret_shown=secret is not None)
        lines += [f"  {number}. {step}" for number, step in enumerate(steps, start=1)]
    text = "\n".join(lines)
    # Redact everything but the one secret the user asked to see.
    masked = secrets.redact(text if secret is None else text.replace(secret, "\0"))
    typer.echo(masked.replace("\0", secret) if secret is not None else masked)


@app.command("check")
@command_errors
def check(
    config: ConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
    strict: StrictOption = False,
) -> int:
    """Grade flag change tracking: GREEN when a signed, enabled webhook covers every mapped environment."""
    target = _target(config)

    async def fetch() -> list[LdWebhook]:
        async with live.session(target.loaded.config) as clients:
            return await LaunchDarklyWebhooks(clients.launchdarkly().session).list_webhooks()

    report = build_tracking_report(asyncio.run(fetch()), target.hook_url, target.loaded.config.mappings)
    emit_report(
        output,
        table=lambda: tracking_table(report),
        document=lambda: tracking_json(report, strict),
        view=lambda: tracking_view(report, target.loaded.display, strict),
    )
    return ExitCode.OK if report.ok(strict) else ExitCode.PROBLEMS
