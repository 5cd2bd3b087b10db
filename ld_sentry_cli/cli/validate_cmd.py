"""`ldsentry validate`: the offline check of the configuration file, for people and CI."""

from __future__ import annotations

from ld_sentry_cli.cli.options import ConfigOption, OutputFormat, OutputOption
from ld_sentry_cli.cli.runner import command_errors, emit_json, error_payload, say
from ld_sentry_cli.errors import ConfigInvalidError, ExitCode


@command_errors
def validate(config: ConfigOption = None, output: OutputOption = OutputFormat.TABLE) -> int:
    """Check the configuration offline: schema, key formats, duplicates, conflicts and secrets."""
    import typer

    from ld_sentry_cli.config import check_text, locate_config, read_text

    path, display = locate_config(config)
    try:
        parsed, problems, _ = check_text(read_text(path, display), display)
    except ConfigInvalidError as err:  # unreadable file: report it like any other problem
        parsed, problems = None, list(err.problems)
    if problems or parsed is None:
        if output is OutputFormat.JSON:
            error = error_payload(ConfigInvalidError(problems))
            emit_json({"ok": False, "config": display, "problems": error["error"].pop("problems"), **error})
        else:
            for problem in problems:
                typer.echo(str(problem))
            count = len(problems)
            typer.echo(f"✗ {display}: {count} problem{'s' if count != 1 else ''}")
        return ExitCode.USAGE
    count = len(parsed.mappings)
    if output is OutputFormat.JSON:
        emit_json(
            {
                "ok": True,
                "config": display,
                "event_key": parsed.metric.event_key,
                "mappings": count,
                "problems": [],
            }
        )
    else:
        plural = "mapping" if count == 1 else "mappings"
        typer.echo(f'✓ {display} is valid: {count} {plural}, event key "{parsed.metric.event_key}"')
    if not count:
        say("hint: no mappings yet; add one with `ldsentry mappings create`")
    return ExitCode.OK
