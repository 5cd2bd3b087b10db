"""Save configuration files safely: exclusive lock, atomic replace, mode kept, never a partial file.

The lock is taken on the file's folder (flock on a directory descriptor) rather than on the file,
because the file itself is replaced by each save and a lock on a replaced inode protects nothing;
it also leaves no lock file behind in the user's repository.

A symbolic link is followed: the link's target is edited, with the temporary file beside the
target, so the link stays a link and the rename never crosses file systems.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ld_sentry_cli.errors import UsageError

try:  # POSIX only; on Windows saves are still atomic but not serialised between processes.
    import fcntl
except ImportError:  # pragma: no cover - exercised only on Windows
    fcntl = None  # type: ignore[assignment]


class ConfigWriteError(UsageError):
    """The machine would not let ldsentry write the configuration file; the file is unchanged."""


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for read-modify-write of path, shared by every ldsentry process.

    Holding it, no other ldsentry process is between creating and renaming its temporary file, so
    temporary files of this config left by a killed process are removed here.
    """
    target = path.resolve()
    if fcntl is None:
        yield
        return
    try:
        descriptor = os.open(target.parent, os.O_RDONLY)
    except OSError as err:
        raise _write_error(err, str(path), target) from err
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        remove_leftovers(target)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def remove_leftovers(target: Path) -> None:
    """Delete the temporary files (`.NAME.XXXXXXXX.tmp`) that an interrupted save of target left behind."""
    # The exact shape tempfile.mkstemp gives them below: eight random letters, digits or underscores.
    leftover = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            if leftover.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def write_atomic(path: Path, text: str, display: str | None = None) -> None:
    """Replace path's content with text atomically, keeping its mode; nothing changes if text is equal.

    A symbolic link's target is replaced, not the link. When the machine refuses the write (a
    read-only file system or folder, a full disk), ConfigWriteError says so and the file is unchanged.
    """
    data = text.encode("utf-8")
    target = path.resolve()
    try:
        current = target.read_bytes()
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        current, mode = None, 0o644
    if current == data:
        return
    temporary = None
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException as err:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        if isinstance(err, OSError):
            raise _write_error(err, display or str(path), target) from err
        raise
    _fsync_folder(target.parent)


def _write_error(err: OSError, display: str, target: Path) -> OSError | ConfigWriteError:
    """Say why the machine refused the write and what to do; other OS errors stay as they are."""
    unchanged = f"cannot write {display}: "
    if err.errno == errno.EROFS:
        return ConfigWriteError(
            unchanged + "the file system is read-only; the file is unchanged",
            hint="Run the command where the file can be written (for example a writable checkout), "
            "or edit the file by hand.",
        )
    if err.errno in (errno.EACCES, errno.EPERM):
        return ConfigWriteError(
            unchanged + f"permission denied in {target.parent} (ldsentry writes a temporary file beside "
            "the configuration and renames it over the original); the file is unchanged",
            hint=f"Make the folder and the file writable (chmod u+w {target.parent} {target}), "
            "or edit the file by hand.",
        )
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return ConfigWriteError(
            unchanged + "no space left on the device (or the disk quota is used up); the file is unchanged",
            hint="Free some disk space, then run the command again.",
        )
    return err


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); harmless where folders cannot be opened."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
