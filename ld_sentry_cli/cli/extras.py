"""Optional extras: the relay and the emulator need a web server that the core install leaves out.

A CI job or a pre-commit hook that only validates installs typer, rich, httpx and tomlkit; the
commands that serve HTTP say which extra they need instead of failing on an import.
"""

from __future__ import annotations

import importlib.util

from ld_sentry_cli.errors import UsageError

# What each extra brings that its commands import (pyproject.toml, [project.optional-dependencies]).
EXTRA_MODULES = {
    "relay": ("starlette", "uvicorn", "msgspec"),
    "sandbox": ("starlette", "uvicorn", "msgspec", "jsonpatch"),
}


def require_extra(extra: str, command: str) -> None:
    """Raise a usage error naming the install line when an extra's modules are missing."""
    missing = [module for module in EXTRA_MODULES[extra] if importlib.util.find_spec(module) is None]
    if missing:
        raise UsageError(
            f"`ldsentry {command}` needs the {extra!r} extra, which is not installed (missing: {', '.join(missing)}).",
            f"Install it with: pip install 'ldsentry[{extra}]' (from a clone: pip install '.[{extra}]').",
        )
