"""`ldsentry doctor`: the first command a newcomer runs; says what is missing and how to fix it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

from rich.table import Table
from rich.text import Text

from ld_sentry_cli.cli import live
from ld_sentry_cli.cli.options import ConfigOption, PlainFormat, PlainOutputOption
from ld_sentry_cli.cli.runner import command_errors, emit_json
from ld_sentry_cli.cli.terminal import print_renderable, stdout_console
from ld_sentry_cli.config import load_config, locate_config
from ld_sentry_cli.doctor import (
    Check,
    CheckStatus,
    all_ok,
    check_launchdarkly,
    check_scrubbing,
    check_sentry,
    check_tracking,
    failed,
)
from ld_sentry_cli.errors import ConfigInvalidError, ExitCode, LdsentryError
from ld_sentry_cli.gather import Counter, ProgressCallback
from ld_sentry_cli.launchdarkly import LaunchDarklyClient, launchdarkly_instance
from ld_sentry_cli.launchdarkly_webhooks import LaunchDarklyWebhooks
from ld_sentry_cli.models import Config
from ld_sentry_cli.sentry import sentry_base_url, sentry_organization, sentry_token
from ld_sentry_cli.sentry_settings import ScrubbingReader
from ld_sentry_cli.tasks import run_all
from ld_sentry_cli.tracking import sentry_hook_url

_MARKS = {"ok": "[green]✓ ok[/]", "warn": "[yellow]! warn[/]", "fail": "[bold red]✗ fail[/]"}


async def _counted(work: Sequence[Awaitable[list[Check]]], progress: ProgressCallback | None) -> list[list[Check]]:
    """Run the checks together, counting each finished one on the progress bar."""
    counter = Counter(len(work), progress)

    async def counted(check: Awaitable[list[Check]]) -> list[Check]:
        result = await check
        counter.advance()
        return result

    return await run_all(counted(check) for check in work)


@command_errors
def doctor(config: ConfigOption = None, output: PlainOutputOption = PlainFormat.TABLE) -> int:
    """Check the config, both tokens, their permissions and the instances; exit 0 when all is in place."""

    checks: list[Check] = []
    path, display = locate_config(config)
    settings = Config()
    try:
        loaded = load_config(path, display)
    except ConfigInvalidError as error:
        count = len(error.problems)
        checks.append(
            Check(
                "Configuration",
                CheckStatus.FAIL,
                f"{display} has {count} problem{'s' if count != 1 else ''}",
                f"Run `ldsentry validate --config {display}` to see them.",
            )
        )
    except LdsentryError as error:
        checks.append(failed("Configuration", error))
    else:
        settings = loaded.config
        count = len(settings.mappings)
        checks.append(
            Check(
                "Configuration",
                CheckStatus.OK if count else CheckStatus.WARN,
                f"{display} is valid: {count} mapping{'s' if count != 1 else ''}, "
                f'event key "{settings.metric.event_key}"',
                None if count else "Add a mapping with `ldsentry mappings create`.",
            )
        )

    async def live_checks() -> list[Check]:
        found: list[Check] = []
        work: list[Awaitable[list[Check]]] = []
        # The scrubbing row reads every mapped project's settings: long enough to show progress.
        async with live.session(settings, progress="Checking") as clients:
            ld: LaunchDarklyClient | None = None
            try:
                ld = clients.launchdarkly()
            except LdsentryError as error:
                found.append(failed("LaunchDarkly token", error))
            else:
                work.append(check_launchdarkly(ld, ld.base_url, launchdarkly_instance(ld.base_url).value))
            # Each part of the Sentry setup is checked on its own, so that every missing one is named.
            token = organization = base_url = None
            try:
                token = sentry_token()
            except LdsentryError as error:
                found.append(failed("Sentry token", error))
            try:
                organization = sentry_organization(settings.sentry.organization)
            except LdsentryError as error:
                found.append(failed("Sentry organization", error))
            try:
                base_url = sentry_base_url(settings.sentry.base_url)
            except LdsentryError as error:
                found.append(failed("Sentry instance", error))
            if token and organization and base_url:
                sentry = clients.sentry()
                work.append(check_sentry(sentry, base_url, organization))
                reader = ScrubbingReader(sentry.session, organization)
                work.append(check_scrubbing(reader, list(settings.sentry_projects)))
            if ld is not None and organization and base_url:
                hook_url = sentry_hook_url(base_url, organization)
                work.append(check_tracking(LaunchDarklyWebhooks(ld.session), hook_url, settings.mappings))
            results = await _counted(work, clients.progress)
        return found + [check for result in results for check in result]

    checks += asyncio.run(live_checks())
    ok = all_ok(checks)
    if output is PlainFormat.JSON:
        emit_json(
            {
                "ok": ok,
                "checks": [
                    {"name": c.name, "status": c.status.value, "message": c.message, "hint": c.hint} for c in checks
                ],
            }
        )
    else:
        table = Table(title="ldsentry doctor", show_lines=True)
        table.add_column("Status", no_wrap=True)
        table.add_column("Check", no_wrap=True)
        table.add_column("Details")
        for check in checks:
            details = Text(check.message + (f"\n→ {check.hint}" if check.hint else ""))
            table.add_row(_MARKS[check.status.value], check.name, details)
        print_renderable(table)
        stdout_console().print(
            "Everything `status` and `events check` need is in place." if ok else "Fix the failed checks above."
        )
    return ExitCode.OK if ok else ExitCode.PROBLEMS
