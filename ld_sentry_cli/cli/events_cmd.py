"""`ldsentry events check`: do the Sentry events really carry a usable `launchdarklyContext`?"""

from __future__ import annotations

import asyncio
import fnmatch
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ld_sentry_cli.cli import live
from ld_sentry_cli.cli.live import DEFAULT_CONCURRENCY, ConcurrencyOption
from ld_sentry_cli.cli.options import (
    ConfigOption,
    EventRateOption,
    OutputFormat,
    OutputOption,
    StrictOption,
    check_period,
)
from ld_sentry_cli.cli.output import emit_report
from ld_sentry_cli.cli.runner import command_errors
from ld_sentry_cli.config import load_config, locate_config
from ld_sentry_cli.errors import ExitCode, UsageError
from ld_sentry_cli.events_audit import EventsReport, audit_events
from ld_sentry_cli.render.events import events_json, events_table
from ld_sentry_cli.render.view import events_view
from ld_sentry_cli.sentry_settings import ScrubbingReader

if TYPE_CHECKING:
    from ld_sentry_cli.models import ProjectMapping

app = typer.Typer(help="Audit recent Sentry error events for the launchdarklyContext context.", no_args_is_help=True)


def select_mappings(mappings: tuple[ProjectMapping, ...], patterns: list[str] | None) -> list[ProjectMapping]:
    """Mappings whose `sentry_project/sentry_environment` or `ld_project/ld_environment` match a glob."""

    if not patterns:
        return list(mappings)
    return [
        m
        for m in mappings
        if any(
            fnmatch.fnmatchcase(f"{m.sentry_project}/{m.sentry_environment}", pattern)
            or fnmatch.fnmatchcase(f"{m.ld_project}/{m.ld_environment}", pattern)
            for pattern in patterns
        )
    ]


@app.command("check")
@command_errors
def check(
    since: Annotated[
        str, typer.Option("--since", callback=check_period, help="How far back to sample: 30m, 24h, 7d.")
    ] = "24h",
    max_events: Annotated[
        int, typer.Option("--max-events", min=1, max=1000, help="Events to sample per mapping.")
    ] = 100,
    mapping_filter: Annotated[
        Optional[list[str]],  # noqa: UP045 - typer inspects annotations at runtime on 3.10
        typer.Option(
            "--mapping-filter",
            help="Only mappings whose SENTRY_PROJECT/ENV or LD_PROJECT/ENV match this glob (repeatable).",
        ),
    ] = None,
    min_usable: Annotated[
        float,
        typer.Option("--min-usable", min=0.0, max=1.0, help="Fail when a mapping's usable share is below this."),
    ] = 0.9,
    event_rate: EventRateOption = 5.0,
    config: ConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
    strict: StrictOption = False,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
) -> int:
    """Sample recent error events per mapping and say exactly why errors are not reaching LaunchDarkly.

    Also audits Sentry's data scrubbing settings (which setting filters which member of the context, and
    the fix) and shows the share of sampled events that carry a `flags` context (evaluation tracking).
    """

    loaded = load_config(*locate_config(config))
    mappings = select_mappings(loaded.config.mappings, mapping_filter)
    if not mappings:
        raise UsageError(
            "no mapping matches the filter" if mapping_filter else f"{loaded.display} has no mappings",
            hint="Run `ldsentry mappings list` to see the mappings.",
        )

    async def work() -> EventsReport:
        async with live.session(loaded.config, concurrency, progress="Sampling events") as clients:
            client = clients.sentry(event_rate)
            return await audit_events(
                mappings,
                client,
                sample_size=max_events,
                stats_period=since,
                min_usable=min_usable,
                concurrency=concurrency,
                progress=clients.progress,
                scrubbing=ScrubbingReader(client.session, client.organization),
            )

    report = asyncio.run(work())
    emit_report(
        output,
        table=lambda: events_table(report),
        document=lambda: events_json(report, strict),
        view=lambda: events_view(report, loaded.display, strict),
    )
    return ExitCode.OK if report.ok(strict) else ExitCode.PROBLEMS
