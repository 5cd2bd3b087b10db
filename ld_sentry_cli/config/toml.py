"""The TOML reader: the standard library's tomllib, or on Python 3.10 tomli, the same code released on its own."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["tomllib"]
