"""What follows every report table: the counts by status, then each row's problems and what to do.

Rich renderables, so imported only by the renderers that draw a table (docs/design.md "Layers").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import RenderableType
from rich.markup import escape
from rich.padding import Padding
from rich.text import Text

from ld_sentry_cli.grades import Status, Summary
from ld_sentry_cli.problems import Problem
from ld_sentry_cli.render.common import badge

PROBLEMS_HEADING = "\nProblems and what to do:"
# A row below a table: its status, its label, its problems and extra lines (example links).
ProblemEntry = tuple[Status, str, tuple[Problem, ...], tuple[str, ...]]


def problem_lines(problems: Iterable[Problem]) -> list[RenderableType]:
    """Each problem as an indented `code: message` line (a report's own, or one row's)."""
    return [_indented(f"{p.code}: {p.message}") for p in problems]


def _indented(line: str) -> RenderableType:
    # Padding keeps wrapped continuation lines indented under their problem.
    return Padding(Text(line), (0, 0, 0, 4), expand=False)


def problem_section(entries: Sequence[ProblemEntry]) -> list[RenderableType]:
    """Problems below a table, one block per row that has any: `✗ label` then indented lines.

    They are not a table column because a narrow terminal or an 80-column CI log would squeeze a
    column of sentences to nothing; indented lines stay readable at any width.
    """
    lines: list[RenderableType] = []
    for status, label, problems, extra in entries:
        if not problems and not extra:
            continue
        if not lines:
            lines.append(Text(PROBLEMS_HEADING))
        lines.append(Text.from_markup(f"{badge(status)} {escape(label)}"))
        lines += problem_lines(problems)
        lines += [_indented(line) for line in extra]
    return lines


def table_footer(summary: Summary, entries: Sequence[ProblemEntry]) -> list[RenderableType]:
    """What every report table is followed by: the counts and the problems section."""
    return [Text(summary.line), *problem_section(entries)]
