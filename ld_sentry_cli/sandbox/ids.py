"""Deterministic identifiers: the same scenario always yields the same ids, keys and event ids.

Real services use random ids; deriving them from a name keeps fixtures and test output stable.
"""

from __future__ import annotations

import hashlib
import uuid


def _digest(parts: tuple[str, ...]) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def hex_id(*parts: str, length: int = 24) -> str:
    """A lowercase hex id derived from the parts (24 chars is LaunchDarkly's `_id` shape)."""
    return _digest(parts).hex()[:length]


def uuid_from(*parts: str) -> str:
    """A version-4-shaped UUID derived from the parts."""
    return str(uuid.UUID(bytes=_digest(parts)[:16], version=4))


def event_id_from(*parts: str) -> str:
    """A Sentry event id: 32 lowercase hex characters (Sentry notes §4.1)."""
    return uuid.UUID(uuid_from(*parts)).hex


def numeric_id(*parts: str, digits: int = 10) -> str:
    """A decimal id string such as Sentry's `groupID`."""
    span = 9 * 10 ** (digits - 1)
    return str(10 ** (digits - 1) + int.from_bytes(_digest(parts)[:8], "big") % span)
