"""A progress bar on stderr for long work, shown only when stderr is a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ld_sentry_cli.cli.terminal import stderr_console

if TYPE_CHECKING:
    from ld_sentry_cli.gather import ProgressCallback


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[ProgressCallback | None]:
    """Yield a (done, total) callback driving a rich progress bar, or None when stderr is not a TTY."""
    if not sys.stderr.isatty():
        yield None
        return

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
