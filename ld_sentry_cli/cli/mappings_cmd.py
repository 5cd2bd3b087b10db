"""`ldsentry mappings create|list|delete|discover`: edit and show the [[mapping]] tables."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import RenderableType
from rich.table import Table

from ld_sentry_cli.cli import live
from ld_sentry_cli.cli.lazy import LazyCommand, LazyGroup
from ld_sentry_cli.cli.options import ConfigOption, OutputFormat, OutputOption, PlainFormat, PlainOutputOption
from ld_sentry_cli.cli.output import emit_report
from ld_sentry_cli.cli.runner import command_errors, emit_json, say
from ld_sentry_cli.config import load_config, locate_config
from ld_sentry_cli.config.editor import add_mapping, check_mapping_values, remove_mapping
from ld_sentry_cli.constants import LD_TOKEN_ENV_VARS
from ld_sentry_cli.errors import MappingRejectedError, UsageError
from ld_sentry_cli.models import ProjectMapping
from ld_sentry_cli.render.common import mapping_fields
from ld_sentry_cli.render.view import mappings_view
from ld_sentry_cli.verify import Verification, verify_launchdarkly, verify_sentry

if TYPE_CHECKING:
    from typer._click import Context

    from ld_sentry_cli.models import Config, ProjectMapping


class MappingsGroup(LazyGroup):
    """`mappings`: list, create and delete here; `discover` (which talks to both APIs) imported only when it runs."""

    registry = (LazyCommand("discover", "ld_sentry_cli.cli.discover_cmd", "discover_mappings"),)

    def list_commands(self, ctx: Context) -> list[str]:
        """list, create and delete first, then discover."""
        lazy = [entry.name for entry in self.registry]
        return [name for name in super().list_commands(ctx) if name not in lazy] + lazy


app = typer.Typer(
    help="Create, list, delete and discover mappings of Sentry project+environment to LaunchDarkly "
    "project+environment.",
    no_args_is_help=True,
    cls=MappingsGroup,
)

SentryProjectOption = Annotated[str, typer.Option("--sentry-project", help="Sentry project slug.")]
SentryEnvironmentOption = Annotated[str, typer.Option("--sentry-environment", help="Sentry environment name.")]
LdProjectOption = Annotated[str, typer.Option("--ld-project", help="LaunchDarkly project key.")]
LdEnvironmentOption = Annotated[str, typer.Option("--ld-environment", help="LaunchDarkly environment key.")]


@app.command("list")
@command_errors
def list_mappings(config: ConfigOption = None, output: OutputOption = OutputFormat.TABLE) -> None:
    """List the mappings in the configuration file."""

    loaded = load_config(*locate_config(config))
    mappings = loaded.config.mappings
    if not mappings and output is not OutputFormat.JSON:
        say(f"{loaded.display} has no mappings yet; add one with `ldsentry mappings create`.")
        if output is OutputFormat.TABLE:
            return

    def table() -> RenderableType:
        grid = Table(title=f"Mappings in {loaded.display}")
        for column in ("Sentry project", "Sentry environment", "LD project", "LD environment", "Line"):
            grid.add_column(column, justify="right" if column == "Line" else "left")
        for m in mappings:
            grid.add_row(m.sentry_project, m.sentry_environment, m.ld_project, m.ld_environment, str(m.line))
        return grid

    emit_report(
        output,
        table=table,
        document=lambda: {"config": loaded.display, "mappings": [mapping_fields(m) for m in mappings]},
        view=lambda: mappings_view(mappings, loaded.display),
    )


@app.command("create")
@command_errors
def create_mapping(
    sentry_project: SentryProjectOption,
    sentry_environment: SentryEnvironmentOption,
    ld_project: LdProjectOption,
    ld_environment: LdEnvironmentOption,
    verify: Annotated[
        Optional[bool],  # noqa: UP045 - typer inspects annotations at runtime on 3.10
        typer.Option(
            "--verify/--no-verify",
            help="Check that the projects and environments exist in LaunchDarkly (and in Sentry when "
            "SENTRY_AUTH_TOKEN is set). Default: verify when LD_ACCESS_TOKEN is set.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    output: PlainOutputOption = PlainFormat.TABLE,
) -> None:
    """Append one [[mapping]] table; every other byte of the file stays as it was."""

    mapping = ProjectMapping(sentry_project, sentry_environment, ld_project, ld_environment)
    malformed = check_mapping_values(mapping)
    if malformed:  # no request for a name that cannot exist
        raise UsageError("; ".join(malformed))
    path, display = locate_config(config)
    has_token = any(os.environ.get(name, "").strip() for name in LD_TOKEN_ENV_VARS)
    should_verify = has_token if verify is None else verify
    if should_verify:
        # Read for the base URLs only: the network check must not hold the file's lock, and
        # add_mapping reads the file again under the lock before it edits.
        problems, notes = _verify_live(mapping, load_config(path, display).config)
        for note in notes:
            say(f"note: {note}")
        if problems:
            raise MappingRejectedError(
                "; ".join(problems), hint="Fix the name, or pass --no-verify to write the mapping anyway."
            )
    written, added = add_mapping(path, display, mapping)
    if not added:  # ensuring a mapping exists is re-runnable: the same mapping again is success
        if output is PlainFormat.JSON:
            emit_json({"config": display, "created": None, "existing": mapping_fields(written)})
        else:
            typer.echo(f"{written.label} is already mapped at {_where(display, written)}; nothing to do")
        return
    if output is PlainFormat.JSON:
        emit_json({"config": display, "created": mapping_fields(written)})
    else:
        typer.echo(f"Added {written.label} at {_where(display, written)}")
    if not should_verify and verify is None:
        say("note: not verified against LaunchDarkly (LD_ACCESS_TOKEN is not set); `ldsentry status` will check it")


def _verify_live(mapping: ProjectMapping, config: Config) -> tuple[list[str], list[str]]:
    """Ask both APIs (Sentry only when its token is set) whether the mapping's names exist."""

    async def ask() -> tuple[list[Verification], str | None]:
        async with live.session(config) as clients:
            ld = clients.launchdarkly()
            sentry, skipped_because = clients.optional_sentry(required=False)
            checks = [verify_launchdarkly(mapping, ld)]
            if sentry is not None:
                checks.append(verify_sentry(mapping, sentry))
            return list(await asyncio.gather(*checks)), skipped_because

    results, skipped_because = asyncio.run(ask())
    problems = [p for result in results for p in result.problems]
    notes = [n for result in results for n in result.notes]
    if skipped_because:
        notes.append(f"the Sentry side was not verified ({skipped_because})")
    return problems, notes


@app.command("delete")
@command_errors
def delete_mapping(
    sentry_project: SentryProjectOption,
    sentry_environment: SentryEnvironmentOption,
    ld_project: LdProjectOption,
    ld_environment: LdEnvironmentOption,
    config: ConfigOption = None,
    output: PlainOutputOption = PlainFormat.TABLE,
) -> None:
    """Remove exactly this mapping's table and nothing else."""

    path, display = locate_config(config)
    removed = remove_mapping(
        path, display, ProjectMapping(sentry_project, sentry_environment, ld_project, ld_environment)
    )
    if output is PlainFormat.JSON:
        emit_json({"config": display, "deleted": mapping_fields(removed)})
    else:
        typer.echo(f"Deleted {removed.label} (was at {_where(display, removed)})")


def _where(display: str, mapping: ProjectMapping) -> str:
    """`FILE:LINE`, or the file alone when the line is unknown."""
    return f"{display}:{mapping.line}" if mapping.line is not None else display
