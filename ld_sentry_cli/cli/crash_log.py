"""The crash log: what a bug report needs when something unexpected fails, written where the user can find it.

Like pre-commit's error handler, an unexpected error leaves one short line on the terminal and the
details (versions, platform, command line, traceback, secrets masked) in a file whose path the
line names. The file is overwritten by the next crash, so it never grows.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

from ld_sentry_cli import __version__, secrets

FILE_NAME = "crash.log"


def crash_log_dir(environ: Mapping[str, str] | None = None) -> Path:
    """ldsentry's per-user cache folder: $XDG_CACHE_HOME/ldsentry, else ~/.cache/ldsentry."""
    env = os.environ if environ is None else environ
    cache = env.get("XDG_CACHE_HOME", "")
    # The XDG rule: a relative value is invalid and ignored.
    base = Path(cache) if cache and Path(cache).is_absolute() else Path.home() / ".cache"
    return base / "ldsentry"


def crash_report(error: BaseException, argv: Sequence[str]) -> str:
    """The text of the crash log for error, raised by the command line argv; secrets masked."""
    secrets.register_environment_secrets()
    lines = [
        "# ldsentry crash log: attach it to a bug report",
        "",
        f"ldsentry: {__version__}",
        f"python: {sys.version.replace(chr(10), ' ')}",
        f"platform: {platform.platform()}",
        f"time: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
        f"command: {shlex.join(argv)}",
        "",
        *traceback.format_exception(type(error), error, error.__traceback__),
    ]
    return secrets.redact("\n".join(line.rstrip("\n") for line in lines) + "\n")


def _write_private(path: Path, text: str) -> None:
    # Readable by the user alone: the command line and the traceback name the user's files.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def write_crash_log(error: BaseException, argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Path | None:
    """Write the crash log and return its path: in the cache folder, else a temporary file; None if neither works."""
    text = crash_report(error, argv)
    try:
        path = crash_log_dir(environ) / FILE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, text)
    except (OSError, RuntimeError):  # RuntimeError: Path.home() when no home folder is known
        pass
    else:
        return path
    try:
        descriptor, name = tempfile.mkstemp(prefix="ldsentry-crash-", suffix=".log")
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError:
        return None
    return Path(name)
