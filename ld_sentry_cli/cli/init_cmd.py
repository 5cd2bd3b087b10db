"""`ldsentry init`: write a commented starter configuration."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ld_sentry_cli.cli.options import ConfigOption
from ld_sentry_cli.cli.runner import command_errors, say
from ld_sentry_cli.config import locate_config
from ld_sentry_cli.config.schema import event_key_rule, ld_key_rule, sentry_slug_rule
from ld_sentry_cli.config.store import locked, write_atomic
from ld_sentry_cli.config.template import metric_key_for, starter_config
from ld_sentry_cli.constants import DEFAULT_EVENT_KEY
from ld_sentry_cli.errors import ConflictError, UsageError


@command_errors
def init(
    config: ConfigOption = None,
    sentry_organization: Annotated[
        Optional[str],  # noqa: UP045 - typer inspects annotations at runtime on 3.10
        typer.Option("--sentry-organization", help="Sentry organization slug to write into [sentry]."),
    ] = None,
    event_key: Annotated[
        str, typer.Option("--event-key", help="The metric event key the integration sends.")
    ] = DEFAULT_EVENT_KEY,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter ldsentry.toml that passes `ldsentry validate` as it is."""

    path, display = locate_config(config)
    for option, value, rule in (
        ("--sentry-organization", sentry_organization, sentry_slug_rule),
        ("--event-key", event_key, event_key_rule),
    ):
        failure = rule(value) if value is not None else None
        if failure:
            raise UsageError(f"{option} {value!r} {failure}")
    metric_key = metric_key_for(event_key)
    if metric_key is not None and ld_key_rule(metric_key):
        raise UsageError(
            f"--event-key {event_key!r} leaves no valid metric key (letters, digits, '.', '_' or '-') "
            "to create the metric under",
            hint="Use an event key with some letters or digits, or write [metric] key by hand after `ldsentry init`.",
        )
    if path.is_dir():
        raise UsageError(f"{display} is a directory; pass --config with a file name")
    if not path.parent.resolve().is_dir():
        raise UsageError(f"{path.parent} does not exist; create the folder first")
    with locked(path):
        if path.exists() and not force:
            raise ConflictError(f"{display} already exists", hint="Pass --force to overwrite it.")
        write_atomic(path, starter_config(sentry_organization, event_key), display)
    say(f"Wrote {display}.")
    say(
        "Next: add a mapping with `ldsentry mappings create --sentry-project P --sentry-environment E "
        "--ld-project P --ld-environment E`, then run `ldsentry validate`."
    )
