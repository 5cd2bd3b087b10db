"""The traffic light every report is graded in: a row's status from its problems, a report's from its rows.

Shared by the live reports (status, metric check, events check, tracking check) and the offline views
of `validate` and `mappings list`, which need the grades but none of the live grading in health.py.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ld_sentry_cli.problems import Problem, Severity


@functools.total_ordering
class Status(enum.Enum):
    """Traffic-light status of a row or report; comparisons order them so the worst wins."""

    GREEN = "green"
    AMBER = "amber"
    RED = "red"

    @property
    def rank(self) -> int:
        """0 for green, 1 for amber, 2 for red."""
        return _RANKS[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return self.rank < other.rank


_RANKS = {Status.GREEN: 0, Status.AMBER: 1, Status.RED: 2}
_STATUS_OF_SEVERITY = {Severity.RED: Status.RED, Severity.AMBER: Status.AMBER, Severity.NOTE: Status.GREEN}


class HasSeverity(Protocol):
    """A report problem, or the CI view's copy of one: all that grading needs is its severity."""

    @property
    def severity(self) -> Severity:
        """Red, amber or note."""


def status_of(problems: Iterable[HasSeverity]) -> Status:
    """The worst status among the problems (notes count as green)."""
    return max((_STATUS_OF_SEVERITY[p.severity] for p in problems), default=Status.GREEN)


def problems_ok(problems: Iterable[HasSeverity], strict: bool = False) -> bool:
    """True when no problem is red (nor amber under strict)."""
    status = status_of(problems)
    return status is Status.GREEN or (status is Status.AMBER and not strict)


class GradedRow:
    """A report row graded by its problems; a base for the rows' frozen dataclasses."""

    problems: tuple[Problem, ...]

    @property
    def status(self) -> Status:
        """The worst status among the row's problems."""
        return status_of(self.problems)


class GradedReport:
    """A report of graded rows plus report-level notes, which may fail it too; a base for the reports' dataclasses."""

    rows: Sequence[GradedRow]
    notes: tuple[Problem, ...] = ()

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Every problem: each row's, then the notes."""
        return (*(p for row in self.rows for p in row.problems), *self.notes)

    @property
    def summary(self) -> Summary:
        """Counts of rows by status."""
        return Summary.of(row.status for row in self.rows)

    @property
    def status(self) -> Status:
        """The worst status among rows and notes."""
        return status_of(self.problems)

    def ok(self, strict: bool = False) -> bool:
        """True when nothing is red (nor amber under strict): the check exits 0."""
        return problems_ok(self.problems, strict)


@dataclass(frozen=True)
class Summary:
    """How many rows have each status."""

    total: int
    green: int
    amber: int
    red: int

    @classmethod
    def of(cls, statuses: Iterable[Status]) -> Summary:
        """Count statuses (of a report's rows)."""
        listed = list(statuses)
        return cls(len(listed), listed.count(Status.GREEN), listed.count(Status.AMBER), listed.count(Status.RED))

    @property
    def line(self) -> str:
        """`3 green, 1 amber, 2 red`."""
        return f"{self.green} green, {self.amber} amber, {self.red} red"
