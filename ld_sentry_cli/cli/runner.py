"""What every command shares: error reporting, exit codes, debug logging and the two consoles.

Commands are wrapped by `command_errors`, so CliRunner tests and the installed script behave the
same way: an ldsentry error becomes its message, hint and exit code; anything unexpected becomes
one line and an exit code of 3, with the traceback only under --debug.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click
import typer

from ld_sentry_cli import secrets
from ld_sentry_cli.errors import ConfigInvalidError, ExitCode, LdsentryError

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])
JSON_VERSION = 1


@dataclass
class _State:
    debug: bool = False


state = _State()


class _RedactingFilter(logging.Filter):
    """Masks secrets in every debug log record, whatever logger it comes from."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = secrets.redact(record.getMessage())
        record.args = ()
        return True


def configure(debug: bool) -> None:
    """Set up debug logging (stderr, secrets masked) for this invocation."""
    state.debug = debug
    secrets.register_environment_secrets()
    logger = logging.getLogger("ldsentry")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(_RedactingFilter())
        handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    else:
        logger.setLevel(logging.WARNING)


def stdout_console() -> Console:
    """A console for data on stdout (honours NO_COLOR; plain text when not a terminal)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    """A console for talk on stderr: progress, warnings and hints."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def say(message: str) -> None:
    """Print a line of talk on stderr (secrets masked)."""
    typer.echo(secrets.redact(message), err=True)


def emit_json(payload: dict[str, Any]) -> None:
    """Print a versioned JSON document on stdout (secrets masked)."""
    document = {"version": JSON_VERSION, **payload}
    typer.echo(secrets.redact(json.dumps(document, indent=2, ensure_ascii=False)))


def error_payload(err: LdsentryError) -> dict[str, Any]:
    """The JSON error object of DESIGN.md for err."""
    body: dict[str, Any] = {"code": err.code.value, "message": err.message, "hint": err.hint}
    if isinstance(err, ConfigInvalidError):
        body["problems"] = [
            {"file": p.file, "line": p.line, "code": p.code, "message": p.message} for p in err.problems
        ]
    return {"error": body}


def report_error(err: LdsentryError, json_mode: bool) -> None:
    """Tell the user about err: JSON on stdout in JSON mode, text on stderr otherwise."""
    if json_mode:
        emit_json(error_payload(err))
        return
    if isinstance(err, ConfigInvalidError):
        for problem in err.problems:
            say(str(problem))
        count = len(err.problems)
        say(f"error: the configuration has {count} problem{'s' if count != 1 else ''}")
    else:
        say(f"error: {err.message}")
    if err.hint:
        say(f"hint: {err.hint}")


def command_errors(func: F) -> F:
    """Wrap a command: map ldsentry errors to messages and exit codes, and hide tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        output = kwargs.get("output")
        json_mode = getattr(output, "value", output) == "json"
        try:
            code = func(*args, **kwargs)
        except (typer.Exit, click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except LdsentryError as err:
            report_error(err, json_mode)
            raise typer.Exit(int(err.exit_code)) from None
        except KeyboardInterrupt:
            say("Interrupted.")
            raise typer.Exit(130) from None
        except Exception as err:
            if state.debug:
                say("".join(traceback.format_exception(type(err), err, err.__traceback__)))
            say(f"error: unexpected {type(err).__name__}: {err}")
            say("hint: run again as `ldsentry --debug ...` for details, and report it if it persists")
            raise typer.Exit(int(ExitCode.SERVICE)) from None
        raise typer.Exit(int(code or 0))

    return wrapper  # type: ignore[return-value]
