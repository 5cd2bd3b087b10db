"""`ldsentry metric check|create`: grade and repair the LaunchDarkly metric behind the integration."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ld_sentry_cli.cli import live
from ld_sentry_cli.cli.live import DEFAULT_CONCURRENCY, ConcurrencyOption
from ld_sentry_cli.cli.options import (
    ConfigOption,
    OutputFormat,
    OutputOption,
    PlainFormat,
    PlainOutputOption,
    StrictOption,
)
from ld_sentry_cli.cli.output import emit_report
from ld_sentry_cli.cli.runner import command_errors, emit_json, say
from ld_sentry_cli.cli.terminal import stdout_console
from ld_sentry_cli.config import load_config, locate_config
from ld_sentry_cli.errors import ExitCode, UsageError
from ld_sentry_cli.gather import gather_ld_facts
from ld_sentry_cli.health import LdFacts
from ld_sentry_cli.launchdarkly import metric_post_body
from ld_sentry_cli.metric_report import build_metric_check
from ld_sentry_cli.render.metrics import metric_check_json, metric_check_table, repair_json, repair_table
from ld_sentry_cli.render.view import metric_check_view
from ld_sentry_cli.repair import RepairAction, RepairReport, repair_metrics

if TYPE_CHECKING:
    from ld_sentry_cli.config import ConfigFile

app = typer.Typer(
    help="Check and create the LaunchDarkly custom conversion metric for the event key.",
    no_args_is_help=True,
)

ProjectsOption = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer inspects annotations at runtime on 3.10
    typer.Option("--ld-project", help="Only this LaunchDarkly project (repeat for several). Default: all mapped."),
]


def _project_keys(loaded: ConfigFile, named: list[str] | None) -> list[str]:
    """The projects to work on: those named, else every project the mappings name."""
    if named:
        return list(dict.fromkeys(named))
    keys = list(loaded.config.ld_projects)
    if not keys:
        raise UsageError(
            f"{loaded.display} has no mappings, so there is no LaunchDarkly project to check",
            hint="Add a mapping with `ldsentry mappings create`, or name a project with --ld-project.",
        )
    return keys


@app.command("check")
@command_errors
def check(
    ld_project: ProjectsOption = None,
    config: ConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
    strict: StrictOption = False,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
) -> int:
    """Grade each LaunchDarkly project's metrics for the event key: GREEN, AMBER or RED."""

    loaded = load_config(*locate_config(config))
    keys = _project_keys(loaded, ld_project)

    async def fetch() -> tuple[dict[str, LdFacts], tuple[str, ...] | None, str]:
        async with live.session(loaded.config, concurrency, progress="Checking metrics") as clients:
            client = clients.launchdarkly()
            facts, known = await gather_ld_facts(keys, client, progress=clients.progress, metric=loaded.config.metric)
            return facts, known, client.base_url

    facts, known, ld_base_url = asyncio.run(fetch())
    report = build_metric_check(keys, facts, loaded.config.metric, loaded.config.mappings, known)
    note = live.instance_note(ld_base_url)
    if note is not None:
        report = dataclasses.replace(report, notes=(note,))
    emit_report(
        output,
        table=lambda: metric_check_table(report),
        document=lambda: metric_check_json(report, strict),
        view=lambda: metric_check_view(report, loaded.display, strict),
    )
    return ExitCode.OK if report.ok(strict) else ExitCode.PROBLEMS


@app.command("create")
@command_errors
def create(
    ld_project: ProjectsOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the exact request bodies; send nothing.")] = False,
    config: ConfigOption = None,
    output: PlainOutputOption = PlainFormat.TABLE,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
) -> int:
    """Create the metric in every LaunchDarkly project that lacks a usable one (idempotent)."""

    loaded = load_config(*locate_config(config))
    keys = _project_keys(loaded, ld_project)
    settings = loaded.config.metric

    async def work() -> RepairReport:
        async with live.session(loaded.config, concurrency, progress="Creating metrics") as clients:
            return await repair_metrics(
                keys,
                settings,
                clients.launchdarkly(),
                metric_post_body(settings),
                dry_run=dry_run,
                progress=clients.progress,
            )

    report = asyncio.run(work())
    if output is PlainFormat.JSON:
        emit_json(repair_json(report, dry_run))
    else:
        stdout_console().print(repair_table(report, dry_run))
        actions = {result.action for result in report.results}
        if actions == {RepairAction.PRESENT}:
            say("Nothing to create: every project already has a usable metric.")
        elif dry_run and RepairAction.WOULD_CREATE in actions:
            say("Dry run: nothing was sent. Run again without --dry-run to create these metrics.")
    if report.failed:
        return ExitCode.SERVICE
    return ExitCode.OK if report.ok else ExitCode.PROBLEMS
