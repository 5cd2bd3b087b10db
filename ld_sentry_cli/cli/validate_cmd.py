"""`ldsentry validate`: the offline check of configuration files, for people, CI and pre-commit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ld_sentry_cli.cli.formats import emit_document
from ld_sentry_cli.cli.options import ConfigOption, OutputFormat, OutputOption
from ld_sentry_cli.cli.runner import command_errors, error_payload, say
from ld_sentry_cli.config import check_text, locate_config, read_text
from ld_sentry_cli.errors import ConfigInvalidError, ExitCode
from ld_sentry_cli.render.view import ValidatedFile, validate_view, validation_line

MoreConfigsArgument = Annotated[
    Optional[list[Path]],  # noqa: UP045 - typer inspects annotations at runtime on 3.10
    typer.Argument(
        metavar="CONFIG",
        help="More configuration files to check in the same run (pre-commit passes the changed files this way).",
        show_default=False,
    ),
]


def _check_file(path: Path, display: str) -> ValidatedFile:

    try:
        parsed, problems, _ = check_text(read_text(path, display), display, locate=False)
    except ConfigInvalidError as err:  # unreadable file: report it like any other problem
        return ValidatedFile(display, None, err.problems)
    return ValidatedFile(display, parsed, tuple(problems))


def _file_json(result: ValidatedFile) -> dict[str, Any]:

    if result.config is None:
        error = error_payload(ConfigInvalidError(result.problems))
        return {"ok": False, "config": result.display, "problems": error["error"].pop("problems"), **error}
    return {
        "ok": True,
        "config": result.display,
        "event_key": result.config.metric.event_key,
        "mappings": len(result.config.mappings),
        "problems": [],
    }


def _table(results: list[ValidatedFile]) -> str:

    lines = []
    for result in results:
        lines += [str(problem) for problem in result.problems]
        lines.append(validation_line(result))
    return "\n".join(lines)


@command_errors
def validate(
    more_configs: MoreConfigsArgument = None,
    config: ConfigOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> int:
    """Check configuration files offline: schema, key formats, duplicates, conflicts and secrets."""

    # `--config A B C` (how pre-commit appends file names) checks all three; with no file named,
    # the usual search applies ($LDSENTRY_CONFIG, else ./ldsentry.toml).
    located = [locate_config(config)] if config is not None or not more_configs else []
    located += [(path, str(path)) for path in more_configs or []]
    results = [_check_file(path, display) for path, display in dict.fromkeys(located)]

    def document() -> dict[str, Any]:
        if len(results) == 1:
            return _file_json(results[0])
        return {"ok": all(r.config is not None for r in results), "configs": [_file_json(r) for r in results]}

    if output is OutputFormat.TABLE:
        typer.echo(_table(results))  # plain text: the pre-commit hook's path loads no rich (formats.py)
    else:
        emit_document(output, document=document, view=lambda: validate_view(results))
    for result in results:
        if result.config is not None and not result.config.mappings:
            where = "" if len(results) == 1 else f" in {result.display}"
            say(f"hint: no mappings yet{where}; add one with `ldsentry mappings create`")
    return ExitCode.OK if all(result.config is not None for result in results) else ExitCode.USAGE
