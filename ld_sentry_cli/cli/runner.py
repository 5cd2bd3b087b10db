"""What every command shares: error reporting, exit codes and debug logging.

Every failure ends the same way whatever raised it: an ldsentry error, an unexpected exception, or
Click refusing the command line. In `json` format it is the `{"version": 1, "error": ...}` document
on stdout, in `github` format also an `::error` annotation, and otherwise a message and a hint on
stderr; the exit code is the error's. An unexpected exception also leaves a crash log (crash_log.py)
and shows its traceback only under --debug.

Commands are wrapped by `command_errors`, which knows their --output; failures outside a command
(Click's usage errors, a callback) reach `failures_reported` around the root group, which reads the
format from the command line itself.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from ld_sentry_cli import secrets
from ld_sentry_cli.cli.command_line import requested_format
from ld_sentry_cli.cli.console import echo, emit_json, say
from ld_sentry_cli.cli.crash_log import write_crash_log
from ld_sentry_cli.errors import (
    ConfigInvalidError,
    ExitCode,
    InternalError,
    LdsentryError,
    UsageError,
    file_system_error,
)
from ld_sentry_cli.render.annotations import error_annotations, workspace_path

if TYPE_CHECKING:
    from typer._click import Command

# The console functions are re-exported: command modules import them from here as well.
__all__ = [
    "command_errors",
    "configure",
    "emit_json",
    "enable_debug",
    "error_payload",
    "failures_reported",
    "redacting_stderr_handler",
    "report_error",
    "say",
    "state",
    "unexpected",
]

F = TypeVar("F", bound=Callable[..., Any])

# Exceptions of the command-line framework. typer 0.28 vendors Click while older releases use Click
# itself, so the classes are found through typer's own names rather than by importing click.
_CLICK_EXCEPTION: type[Exception] = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException")
_FRAMEWORK_EXCEPTIONS: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort, _CLICK_EXCEPTION)


class _State:
    """Settings of the current invocation that every command reads."""

    debug = False
    argv: tuple[str, ...] = ()  # the command line, for the crash log


state = _State()


def configure(debug: bool) -> None:
    """Set up debug logging (stderr, secrets masked) for this invocation."""
    state.debug = debug
    secrets.register_environment_secrets()
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


def enable_debug() -> None:
    """Turn --debug on (given after the command, once the root has configured logging)."""
    configure(True)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = secrets.redact(record.getMessage())
        record.args = ()
        return True


def redacting_stderr_handler(line_format: str) -> logging.Handler:
    """A log handler writing to stderr that masks secrets in every record, whatever logger it comes from."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RedactingFilter())
    handler.setFormatter(logging.Formatter(line_format))
    return handler


def error_payload(err: LdsentryError) -> dict[str, Any]:
    """The JSON error object of docs/design.md for err."""
    body: dict[str, Any] = {"code": err.code.value, "message": err.message, "hint": err.hint}
    if isinstance(err, ConfigInvalidError):
        body["problems"] = [
            {"file": p.file, "line": p.line, "code": p.code, "message": p.message} for p in err.problems
        ]
    return {"error": body}


def report_error(err: LdsentryError, output_format: str | None = None) -> None:
    """Tell the user about err: JSON on stdout for `json`, else text on stderr (and annotations for `github`)."""
    if output_format == "json":
        emit_json(error_payload(err))
        return
    if output_format == "github":
        echo(error_annotations(err, workspace_path))
    if isinstance(err, ConfigInvalidError):
        for problem in err.problems:
            say(str(problem))
        count = len(err.problems)
        say(f"error: the configuration has {count} problem{'s' if count != 1 else ''}")
    else:
        say(f"error: {err.message}")
    if err.hint:
        say(f"hint: {err.hint}")


def unexpected(err: Exception) -> LdsentryError:
    """The error to report for an exception ldsentry did not raise itself.

    An OSError a user can fix (read-only file system, full disk, permissions) says what to do;
    anything else is a bug: its details go to a crash log, and its traceback to stderr under --debug.
    """
    if state.debug:
        say("".join(traceback.format_exception(type(err), err, err.__traceback__)).rstrip("\n"))
    known = file_system_error(err) if isinstance(err, OSError) else None
    if known is not None:
        return known
    log = write_crash_log(err, state.argv or ("ldsentry",))
    if log is None:
        hint = "Run again as `ldsentry --debug ...` for details, and report it if it persists."
    else:
        hint = (
            f"The details are in {log} (`ldsentry --debug ...` shows them here); "
            "please report it with that file if it persists."
        )
    return InternalError(f"unexpected {type(err).__name__}: {err}", hint)


def _exit_reporting(err: Exception, output_format: str | None) -> NoReturn:
    """Report err in the requested format and exit with its code; an exception of no ldsentry kind is unexpected."""
    error = err if isinstance(err, LdsentryError) else unexpected(err)
    report_error(error, output_format)
    raise typer.Exit(int(error.exit_code)) from None


def command_errors(func: F) -> F:
    """Wrap a command: map ldsentry errors to messages and exit codes, and hide tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        output = kwargs.get("output")
        output_format = getattr(output, "value", output)
        try:
            code = func(*args, **kwargs)
        except _FRAMEWORK_EXCEPTIONS:
            raise
        except KeyboardInterrupt:
            say("Interrupted.")
            raise typer.Exit(130) from None
        except Exception as err:
            _exit_reporting(err, output_format)
        raise typer.Exit(int(code or 0))

    return wrapper  # type: ignore[return-value]


def _usage_error(err: Exception) -> UsageError:
    # Click's message, and the help screen of the command it was parsing as the hint.
    message = err.format_message() if hasattr(err, "format_message") else str(err)
    context = getattr(err, "ctx", None)
    path = context.command_path if context is not None else "ldsentry"
    return UsageError(message, f"Run `{path} --help` to see what it accepts.")


@contextlib.contextmanager
def failures_reported(root: Command, args: Sequence[str]) -> Iterator[None]:
    """Report a failure outside command_errors in the format args ask for (Click's own usage errors too)."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except _CLICK_EXCEPTION as err:
        output_format = requested_format(root, args)
        if output_format not in ("json", "github"):
            raise  # Click prints its usage and the error, as it always has
        report_error(_usage_error(err), output_format)
        raise typer.Exit(getattr(err, "exit_code", int(ExitCode.USAGE))) from None
    except Exception as err:
        _exit_reporting(err, requested_format(root, args))
