"""Per-run memory of whether a server honours a list filter, so a refused filter costs one request, not one per project.

LaunchDarkly documents list filters (the projects list's `keys`, the metrics list's `eventKeys`) that a
given instance may honour, ignore or refuse (docs/design.md "HTTP"). The first answer decides for the
rest of the run: until one has, callers take turns asking, one at a time; afterwards they all go at once.
The gather step makes one `FilterChoice` per filter and run and hands it to the client; nothing global.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


class FilterVerdict(str, enum.Enum):
    """What the server did with the filter."""

    UNKNOWN = "unknown"  # no answer yet
    HONOURED = "honoured"  # only matching items came back
    IGNORED = "ignored"  # items the filter excludes came back: the server answered as if it were not there
    REJECTED = "rejected"  # the server answered 400


class FilterChoice:
    """Whether to send one filter in this run, learnt from the server's first answer."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.verdict = FilterVerdict.UNKNOWN
        self._probe = asyncio.Lock()

    @property
    def sends_filter(self) -> bool:
        """True until the server has ignored or refused the filter."""
        return self.verdict in (FilterVerdict.UNKNOWN, FilterVerdict.HONOURED)

    def record(self, verdict: FilterVerdict) -> None:
        """Keep what an answer showed; once ignored or refused, the filter stays off for the run."""
        if self.sends_filter and verdict is not FilterVerdict.UNKNOWN:
            self.verdict = verdict

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[bool]:
        """Yield whether to send the filter; while no answer has decided, only one caller at a time asks.

        A caller that leaves without recording a verdict (its project did not exist, say) lets the next
        one ask, so an inconclusive answer never makes the run guess.
        """
        if self.verdict is not FilterVerdict.UNKNOWN:
            yield self.sends_filter
            return
        await self._probe.acquire()
        held = True
        try:
            if self.verdict is not FilterVerdict.UNKNOWN:
                # Decided while this caller waited: release at once rather than hold the others back.
                self._probe.release()
                held = False
                yield self.sends_filter
                return
            yield True
        finally:
            if held:
                self._probe.release()


@dataclass
class LdReadChoices:
    """The filter choices of one run against LaunchDarkly."""

    projects: FilterChoice = field(default_factory=lambda: FilterChoice("keys"))
    metrics: FilterChoice = field(default_factory=lambda: FilterChoice("eventKeys"))
