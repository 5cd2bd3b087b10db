"""Durations and timestamps as the two APIs spell them.

Sentry periods (`statsPeriod=24h`) and scenario ages (`age = "2h"`) share one syntax: a number and
a unit among s, m, h, d, w (Sentry notes §4.2). Sentry accepts a bare number as seconds.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(\d+)([smhdw]?)$")
_FRACTION = re.compile(r"\.(\d+)")


def parse_duration(text: str, *, unit_required: bool = True) -> timedelta:
    """Parse `30m`, `24h`, `7d`… into a timedelta; raise ValueError on anything else."""
    match = _DURATION.match(text.strip())
    if match is None or (unit_required and not match.group(2)):
        raise ValueError(f"invalid duration {text!r} (expected a number and a unit: s, m, h, d or w, e.g. '2h')")
    number, unit = int(match.group(1)), match.group(2) or "s"
    return timedelta(seconds=number * _UNIT_SECONDS[unit])


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


def epoch_ms(moment: datetime) -> int:
    """Unix milliseconds, as LaunchDarkly's `UnixMillis` fields carry them."""
    return int(moment.timestamp() * 1000)


def from_epoch_ms(milliseconds: int) -> datetime:
    """The UTC time of a Unix-ms value."""
    return datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc)


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with microseconds and a `Z`: Sentry's `dateCreated`, LaunchDarkly's `lastModified.date`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 time; naive times are UTC, as Sentry treats `start`/`end` (notes §4.2)."""
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    # Python 3.10's fromisoformat takes only 3 or 6 fractional digits; Sentry's own example has 4.
    cleaned = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), cleaned)
    moment = datetime.fromisoformat(cleaned)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
