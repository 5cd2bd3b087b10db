"""`ldsentry mappings discover`: propose mappings from what Sentry and LaunchDarkly have, and write the chosen ones."""

from __future__ import annotations

import asyncio
import enum
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from ld_sentry_cli.api_models import LdProject, SentryProject
from ld_sentry_cli.cli import live
from ld_sentry_cli.cli.live import DEFAULT_CONCURRENCY, ConcurrencyOption
from ld_sentry_cli.cli.options import ConfigOption, OutputFormat, OutputOption
from ld_sentry_cli.cli.output import emit_report
from ld_sentry_cli.cli.runner import command_errors, say
from ld_sentry_cli.config import load_config, locate_config
from ld_sentry_cli.config.editor import add_mapping, check_mapping_values
from ld_sentry_cli.discover import Confidence, Proposal, could_match, discover
from ld_sentry_cli.errors import ConflictError, ExitCode, UsageError
from ld_sentry_cli.inventory import Inventory, read_inventory
from ld_sentry_cli.models import Config, ProjectMapping
from ld_sentry_cli.render.discover import DiscoverOutcome, discover_json, discover_table, discover_view

logger = logging.getLogger("ldsentry.discover")


class ConfidenceChoice(str, enum.Enum):
    """The `--min-confidence` values, weakest last."""

    EXACT = "exact"
    ALIAS = "alias"
    SIMILAR = "similar"

    @property
    def confidence(self) -> Confidence:
        """The matching Confidence."""
        return Confidence[self.name]


def comment_for(proposal: Proposal) -> str:
    """The comment line written above a discovered mapping: how it was matched."""
    return f"ldsentry mappings discover: {proposal.confidence.label} match; {proposal.reason}"


def stdin_is_terminal() -> bool:
    """Whether standard input is a terminal to ask on."""
    return sys.stdin.isatty()


@command_errors
def discover_mappings(
    write: Annotated[
        bool,
        typer.Option("--write", help="Append the proposals at or above --min-confidence to the configuration file."),
    ] = False,
    interactive: Annotated[
        bool,
        typer.Option(
            "--interactive",
            "-i",
            help="Ask about each proposal at or above --min-confidence (y: write, n: skip, e: edit, q: quit); "
            "needs a terminal.",
        ),
    ] = False,
    min_confidence: Annotated[
        ConfidenceChoice,
        typer.Option(
            "--min-confidence", help="The weakest match --write and --interactive take: exact, alias or similar."
        ),
    ] = ConfidenceChoice.ALIAS,
    config: ConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
) -> int:
    """Propose mappings by matching Sentry's projects and environments to LaunchDarkly's by name."""
    if interactive and not stdin_is_terminal():
        raise UsageError(
            "--interactive needs a terminal to ask on, and standard input is not one",
            hint="Review the proposals with `ldsentry mappings discover`, then write them with --write.",
        )
    path, display = locate_config(config)
    loaded = load_config(path, display)
    inventory = _read(loaded.config, concurrency)
    report = discover(inventory.sentry_projects, inventory.ld_projects, loaded.config.mappings)
    logger.debug(
        "read both inventories in %d requests: %d to Sentry, %d to LaunchDarkly",
        inventory.sentry_requests + inventory.ld_requests,
        inventory.sentry_requests,
        inventory.ld_requests,
    )
    outcome = DiscoverOutcome(
        report, min_confidence.confidence, requests=(inventory.sentry_requests, inventory.ld_requests)
    )
    if interactive:
        chosen = _ask(outcome.selected, inventory.ld_projects)
        outcome = _write(path, display, outcome, chosen)
    elif write:
        outcome = _write(path, display, outcome, [(p, p.mapping) for p in outcome.selected])
    emit_report(
        output,
        table=lambda: discover_table(outcome),
        document=lambda: discover_json(outcome, display),
        view=lambda: discover_view(outcome, display),
    )
    if (write or interactive) and output is OutputFormat.TABLE:
        if outcome.written:
            say(f"Added {len(outcome.written)} mapping{'s' if len(outcome.written) != 1 else ''} to {display}:")
            for mapping in outcome.written:
                say(f"  {mapping.label} (line {mapping.line})")
        else:
            say(f"Nothing new to add to {display}.")
        for mapping, why in outcome.skipped:
            say(f"  skipped {mapping.label}: {why}")
    return ExitCode.OK


def _read(config: Config, concurrency: int) -> Inventory:
    """Both inventories, read concurrently through the two clients."""

    def worth_resolving(project: SentryProject, ld_projects: tuple[LdProject, ...], hidden: frozenset[str]) -> bool:
        return could_match(project, ld_projects, config.mappings, hidden)

    async def work() -> Inventory:
        async with live.session(config, concurrency) as clients:
            ld, sentry = clients.launchdarkly(), clients.sentry()
            return await read_inventory(sentry, ld, worth_resolving=worth_resolving)

    return asyncio.run(work())


def _write(
    path: Path, display: str, outcome: DiscoverOutcome, chosen: list[tuple[Proposal, ProjectMapping]]
) -> DiscoverOutcome:
    """Append each chosen mapping through the locked, atomic editor; a pair mapped meanwhile is skipped."""
    written: list[ProjectMapping] = []
    skipped: list[tuple[ProjectMapping, str]] = []
    for proposal, mapping in chosen:
        comment = comment_for(proposal)
        if mapping != proposal.mapping:
            comment += f"; edited to {mapping.ld_project}/{mapping.ld_environment}"
        try:
            added, _ = add_mapping(path, display, mapping, comment=comment)
            written.append(added)
        except ConflictError as error:
            skipped.append((mapping, error.message))
    return replace(outcome, written=tuple(written), skipped=tuple(skipped))


def _ask(proposals: tuple[Proposal, ...], ld_projects: tuple[LdProject, ...]) -> list[tuple[Proposal, ProjectMapping]]:
    """Ask about each proposal on the terminal; return the accepted ones, edited where the user said so."""
    environments = {(ld.key, env.key) for ld in ld_projects for env in ld.environments}
    chosen: list[tuple[Proposal, ProjectMapping]] = []
    for number, proposal in enumerate(proposals, 1):
        say(f"[{number}/{len(proposals)}] {proposal.mapping.label} ({proposal.confidence.label}: {proposal.reason})")
        answer = typer.prompt("Write it? [y]es, [n]o, [e]dit, [q]uit", default="y", err=True).strip().lower()
        if answer in ("q", "quit"):
            break
        if answer in ("y", "yes"):
            chosen.append((proposal, proposal.mapping))
        elif answer in ("e", "edit"):
            edited = _edit(proposal.mapping, environments)
            if edited is not None:
                chosen.append((proposal, edited))
        elif answer not in ("n", "no"):
            say(f"  {answer!r} is not y, n, e or q: skipped")
    return chosen


def _edit(mapping: ProjectMapping, environments: set[tuple[str, str]]) -> ProjectMapping | None:
    """Ask for the LaunchDarkly project and environment; None (skip) when they name no existing environment."""
    ld_project = typer.prompt("  LaunchDarkly project", default=mapping.ld_project, err=True).strip()
    ld_environment = typer.prompt("  LaunchDarkly environment", default=mapping.ld_environment, err=True).strip()
    edited = ProjectMapping(mapping.sentry_project, mapping.sentry_environment, ld_project, ld_environment)
    malformed = check_mapping_values(edited)
    if malformed:
        say(f"  skipped: {'; '.join(malformed)}")
        return None
    if (ld_project, ld_environment) not in environments:
        say(f"  skipped: LaunchDarkly has no environment {ld_project}/{ld_environment}")
        return None
    return edited
