"""Rich consoles for what people read: report tables on stdout, progress bars on stderr.

Only the commands that draw a table or a progress bar import this module (and rich with it);
`validate`, which the pre-commit hook runs on every commit, prints plain text and never does
(docs/design.md "Layers").
"""

from __future__ import annotations

import os

from rich.console import Console, RenderableType

from ld_sentry_cli.render.layout import fitted


def stdout_console() -> Console:
    """A console for data on stdout (honours NO_COLOR; plain text when not a terminal)."""
    console = Console(highlight=False, soft_wrap=False)
    # Rich assumes 80 columns off a terminal; CI logs show long lines, so tables need not squeeze.
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 120
    return console


def stderr_console() -> Console:
    """A console for talk on stderr: progress, warnings and hints."""
    return Console(stderr=True, highlight=False)


def print_renderable(renderable: RenderableType) -> None:
    """Print a rich renderable on stdout; a table too wide for the terminal becomes one block per row."""
    stdout_console().print(fitted(renderable))
