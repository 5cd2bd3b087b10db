"""What every command shares: error reporting, exit codes, debug logging and the two consoles.

Commands are wrapped by `command_errors`, so CliRunner tests and the installed script behave the
same way: an ldsentry error becomes its message, hint and exit code; anything unexpected becomes
one line and an exit code of 3, with the traceback only under --debug.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from ld_sentry_cli import secrets

# Start-up matters (`ldsentry --version` is benchmarked): json, logging, traceback and the error
# classes are imported where they are used, not when the command line loads.
if TYPE_CHECKING:
    import logging

    from rich.console import Console

    from ld_sentry_cli.errors import LdsentryError

F = TypeVar("F", bound=Callable[..., Any])

# Exceptions that belong to the command-line framework (exit, abort, usage errors) and must reach
# it untouched. typer 0.29+ vendors click while older releases use click itself, so the usage-error
# base class is found through typer.BadParameter instead of importing click (which also costs start-up).
_FRAMEWORK_EXCEPTIONS: tuple[type[BaseException], ...] = (
    typer.Exit,
    typer.Abort,
    *[cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException"],
)
JSON_VERSION = 1


class _State:
    """Settings of the current invocation that every command reads."""

    debug = False


state = _State()


def configure(debug: bool) -> None:
    """Set up debug logging (stderr, secrets masked) for this invocation."""
    state.debug = debug
    secrets.register_environment_secrets()
    if not debug and "logging" not in sys.modules:
        return  # no earlier invocation in this process set a handler up, so there is nothing to undo
    import logging

    logger = logging.getLogger("ldsentry")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    if debug:
        logger.addHandler(redacting_stderr_handler("debug: %(name)s: %(message)s"))
        logger.setLevel(logging.DEBUG)
    else:
        # Undo an earlier --debug in this process rather than impose a level: the logger then
        # follows the root logger again (WARNING by default) and the relay's own logger keeps its.
        logger.setLevel(logging.NOTSET)


def redacting_stderr_handler(line_format: str) -> logging.Handler:
    """A log handler writing to stderr that masks secrets in every record, whatever logger it comes from."""
    import logging

    class RedactingFilter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.msg = secrets.redact(record.getMessage())
            record.args = ()
            return True

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter(line_format))
    return handler


def stdout_console() -> Console:
    """A console for data on stdout (honours NO_COLOR; plain text when not a terminal)."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=False)
    # Rich assumes 80 columns off a terminal; CI logs show long lines, so tables need not squeeze.
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 120
    return console


def stderr_console() -> Console:
    """A console for talk on stderr: progress, warnings and hints."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def say(message: str) -> None:
    """Print a line of talk on stderr (secrets masked)."""
    typer.echo(secrets.redact(message), err=True)


def emit_json(payload: dict[str, Any]) -> None:
    """Print a versioned JSON document on stdout (secrets masked)."""
    import json

    document = {"version": JSON_VERSION, **payload}
    typer.echo(secrets.redact(json.dumps(document, indent=2, ensure_ascii=False)))


def error_payload(err: LdsentryError) -> dict[str, Any]:
    """The JSON error object of DESIGN.md for err."""
    from ld_sentry_cli.errors import ConfigInvalidError

    body: dict[str, Any] = {"code": err.code.value, "message": err.message, "hint": err.hint}
    if isinstance(err, ConfigInvalidError):
        body["problems"] = [
            {"file": p.file, "line": p.line, "code": p.code, "message": p.message} for p in err.problems
        ]
    return {"error": body}


def report_error(err: LdsentryError, output_format: str | None = None) -> None:
    """Tell the user about err: JSON on stdout for `json`, else text on stderr (and annotations for `github`)."""
    from ld_sentry_cli.errors import ConfigInvalidError

    if output_format == "json":
        emit_json(error_payload(err))
        return
    if output_format == "github":
        from ld_sentry_cli.cli.output import emit_error_annotations

        emit_error_annotations(err)
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
        from ld_sentry_cli.errors import ExitCode, LdsentryError

        output = kwargs.get("output")
        output_format = getattr(output, "value", output)
        try:
            code = func(*args, **kwargs)
        except _FRAMEWORK_EXCEPTIONS:
            raise
        except LdsentryError as err:
            report_error(err, output_format)
            raise typer.Exit(int(err.exit_code)) from None
        except KeyboardInterrupt:
            say("Interrupted.")
            raise typer.Exit(130) from None
        except Exception as err:
            if state.debug:
                import traceback

                say("".join(traceback.format_exception(type(err), err, err.__traceback__)))
            say(f"error: unexpected {type(err).__name__}: {err}")
            say("hint: run again as `ldsentry --debug ...` for details, and report it if it persists")
            raise typer.Exit(int(ExitCode.SERVICE)) from None
        raise typer.Exit(int(code or 0))

    return wrapper  # type: ignore[return-value]
