"""Reading Sentry event payloads: shared by the REST client (sentry.py) and the relay's webhook reader.

Kept apart from the client so that the relay's intake path imports no HTTP code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

_ISO_FRACTION = re.compile(r"\.(\d+)")


def parse_iso_ms(value: Any) -> int | None:
    """Unix milliseconds from an ISO-8601 timestamp such as `2020-06-17T22:26:56.098086Z`."""
    if not isinstance(value, str) or not value:
        return None
    # Python 3.10's fromisoformat wants "+00:00" and exactly 3 or 6 fraction digits.
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    text = _ISO_FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # naive times are UTC (§4.2)
    return int(moment.timestamp() * 1000)


def event_environment(event: Mapping[str, Any]) -> str | None:
    """An event's environment: the top-level `environment`, else its `environment` tag.

    Tags are `[{key, value}]` objects in the REST API and `[[key, value]]` pairs in webhooks
    (sentry-api.md §4.1, §7); the relay reads webhooks with this too.
    """
    environment = event.get("environment")
    if isinstance(environment, str) and environment:
        return environment
    tags = event.get("tags")
    if not isinstance(tags, list):
        return None
    for tag in tags:
        if isinstance(tag, Mapping) and tag.get("key") == "environment":
            value = tag.get("value")
        elif isinstance(tag, (list, tuple)) and len(tag) == 2 and tag[0] == "environment":
            value = tag[1]
        else:
            continue
        return value if isinstance(value, str) and value else None
    return None
