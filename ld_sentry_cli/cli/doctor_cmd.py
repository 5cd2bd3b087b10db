"""`ldsentry doctor`: the first command a newcomer runs; says what is missing and how to fix it."""

from __future__ import annotations

from ld_sentry_cli.cli.options import ConfigOption, PlainFormat, PlainOutputOption
from ld_sentry_cli.cli.runner import command_errors

_MARKS = {"ok": "[green]✓ ok[/]", "warn": "[yellow]! warn[/]", "fail": "[bold red]✗ fail[/]"}


@command_errors
def doctor(config: ConfigOption = None, output: PlainOutputOption = PlainFormat.TABLE) -> int:
    """Check the config, both tokens, their permissions and the instances; exit 0 when all is in place."""
    import asyncio
    from collections.abc import Awaitable, Callable

    from rich.table import Table
    from rich.text import Text

    from ld_sentry_cli.cli import live
    from ld_sentry_cli.cli.output import print_renderable
    from ld_sentry_cli.cli.runner import emit_json, stdout_console
    from ld_sentry_cli.config import load_config, locate_config
    from ld_sentry_cli.doctor import Check, CheckStatus, all_ok, check_launchdarkly, check_sentry, failed
    from ld_sentry_cli.errors import ConfigInvalidError, ExitCode, LdsentryError
    from ld_sentry_cli.launchdarkly import launchdarkly_instance
    from ld_sentry_cli.models import Config
    from ld_sentry_cli.sentry import SentryClient, sentry_base_url, sentry_organization, sentry_token

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
        closers: list[Callable[[], Awaitable[None]]] = []
        work: list[Awaitable[list[Check]]] = []
        try:
            ld = live.launchdarkly_client(settings)
        except LdsentryError as error:
            found.append(failed("LaunchDarkly token", error))
        else:
            closers.append(ld.aclose)
            work.append(check_launchdarkly(ld, ld.base_url, launchdarkly_instance(ld.base_url).value))
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
            sentry = SentryClient(token, organization, base_url=base_url)
            closers.append(sentry.aclose)
            work.append(check_sentry(sentry, base_url, organization))
        try:
            results = await asyncio.gather(*work)
        finally:
            for close in closers:
                await close()
        return found + [check for result in results for check in result]

    checks += live.run(live_checks())
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
