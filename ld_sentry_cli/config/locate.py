"""Find the configuration file: --config PATH, else $LDSENTRY_CONFIG, else ./ldsentry.toml."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CONFIG_NAME = "ldsentry.toml"
CONFIG_ENV_VAR = "LDSENTRY_CONFIG"


def locate_config(explicit: Path | None) -> tuple[Path, str]:
    """Return the config path and the name to show for it in messages (as the user wrote it)."""
    if explicit is not None:
        return explicit, str(explicit)
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env), from_env
    return Path(DEFAULT_CONFIG_NAME), DEFAULT_CONFIG_NAME
