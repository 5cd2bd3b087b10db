"""Test helpers several modules share: an instant clock for the HTTP sessions, the metric ldsentry creates, the
command paths of the CLI, and the scripts in scripts/."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from ld_sentry_cli.http import SessionOptions

NOW = 1_700_000_000.0  # a fixed wall clock (epoch seconds) for rate-limit reset headers

# The POST body `metric create` sends for the default `[metric]` settings, key for key in the order sent.
METRIC_POST_BODY: dict[str, Any] = {
    "key": "sentry-errors",
    "name": "Sentry errors",
    "description": "Error events forwarded from Sentry (managed by ldsentry)",
    "kind": "custom",
    "eventKey": "sentry-errors",
    "isNumeric": False,
    "unitAggregationType": "average",
    "successCriteria": "LowerThanBaseline",
    "analysisUnits": ["user"],
    "eventDefault": {"disabled": False, "value": 0},
    "tags": ["sentry"],
}


def no_jitter() -> float:
    """A random source that always draws 0: retry waits are exactly the backoff."""
    return 0.0


class FakeTime:
    """An instant clock: sleep() records each wait and moves the clock on by it, without waiting."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        """Record the wait (to the millisecond) and let that much time pass at once."""
        self.sleeps.append(round(seconds, 3))
        self.now += seconds

    def clock(self) -> float:
        """The current fake time."""
        return self.now

    def options(self, **settings: Any) -> SessionOptions:
        """SessionOptions that sleep and tell time on this clock, with no jitter; settings override any field."""
        return SessionOptions(
            **{"sleep": self.sleep, "clock": self.clock, "monotonic": self.clock, "random_fn": no_jitter, **settings}
        )


def command_paths(command: Any, words: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path of a Click tree, the root (no words) first."""
    yield words
    if hasattr(command, "list_commands"):
        context = command.context_class(command, info_name="ldsentry")
        for name in command.list_commands(context):
            yield from command_paths(command.get_command(context, name), (*words, name))


def load_script(name: str) -> ModuleType:
    """Import scripts/NAME.py (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module
