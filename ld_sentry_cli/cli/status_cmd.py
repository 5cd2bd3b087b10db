"""`ldsentry status`: the red/amber/green report, one row per mapping, for people and CI."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from ld_sentry_cli.cli import live
from ld_sentry_cli.cli.live import DEFAULT_CONCURRENCY, ConcurrencyOption
from ld_sentry_cli.cli.options import ConfigOption, OutputFormat, OutputOption, StrictOption
from ld_sentry_cli.cli.output import emit_report
from ld_sentry_cli.cli.runner import command_errors
from ld_sentry_cli.config import load_config, locate_config
from ld_sentry_cli.errors import ExitCode
from ld_sentry_cli.gather import gather_facts
from ld_sentry_cli.health import Facts, build_report
from ld_sentry_cli.render.status import status_json, status_table
from ld_sentry_cli.render.view import status_view


@command_errors
def status(
    config: ConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
    strict: StrictOption = False,
    require_sentry: Annotated[
        bool,
        typer.Option("--require-sentry", help="Fail when the Sentry half cannot be checked (no token)."),
    ] = False,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
) -> int:
    """Check every mapping against LaunchDarkly and Sentry: GREEN, AMBER or RED, with what to do."""

    loaded = load_config(*locate_config(config))

    async def fetch() -> tuple[Facts, str]:
        async with live.session(loaded.config, concurrency, progress="Checking mappings") as clients:
            ld = clients.launchdarkly()
            sentry, skipped_because = clients.optional_sentry(require_sentry)
            facts = await gather_facts(
                loaded.config.mappings,
                ld,
                sentry,
                progress=clients.progress,
                sentry_unchecked_reason=skipped_because,
                metric=loaded.config.metric,
            )
            return facts, ld.base_url

    facts, ld_base_url = asyncio.run(fetch())
    report = build_report(loaded.config, facts, require_sentry=require_sentry)
    note = live.instance_note(ld_base_url)
    if note is not None:
        report = report.with_notes(note)
    emit_report(
        output,
        table=lambda: status_table(report),
        document=lambda: status_json(report, strict),
        view=lambda: status_view(report, loaded.display, strict),
    )
    return ExitCode.OK if report.ok(strict) else ExitCode.PROBLEMS
