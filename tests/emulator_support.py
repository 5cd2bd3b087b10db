"""What the `emulator` fixture yields (a module of its own so that tests can import the type)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Emulator:
    """A running emulator: the in-process app (for its request log) and the variables pointing at it."""

    sandbox: Any
    url: str
    env: dict[str, str]
