"""Parse Sentry integration-platform webhooks into the few facts the relay forwards.

Shapes from docs/sentry-api.md §7: `error.created` carries the event in `data.error`,
`event_alert.triggered` in `data.event`, both `Event.as_dict()`: `event_id` (32 hex), `project`
(the numeric id, not the slug), `environment` (top level when the SDK set it, and as a tag in
`tags`, a list of `[key, value]` pairs), `contexts`, `datetime` (ISO), `timestamp` (epoch
seconds) and `url` (the event's API URL, whose path names the project slug). Unknown fields are ignored.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, TypeGuard
from urllib.parse import unquote, urlsplit

import msgspec

from ld_sentry_cli.parsing import event_environment, parse_iso_ms

# (Sentry-Hook-Resource, action) → the key under `data` that holds the event.
HANDLED = {("error", "created"): "error", ("event_alert", "triggered"): "event"}
# Resources Sentry can send an integration (sentry-api.md §7 "Event types"); anything else is
# counted as "other" so a stray header cannot create unbounded metric labels.
KNOWN_RESOURCES = frozenset(
    {"error", "event_alert", "issue", "metric_alert", "comment", "installation", "seer", "preprod_artifact"}
)
_EVENT_ID = re.compile(r"^[0-9a-f]{32}$")
# `url` is `{host}{prefix}/api/0/projects/{org}/{project slug}/events/{event_id}/` (sentry-api.md §7).
_EVENT_URL_PATH = re.compile(r"/api/0/projects/[^/]+/([^/]+)/events/([^/]+)/?$")
# Beyond this a number is not epoch seconds (year 5138), and its milliseconds may not even be finite
# (1e306 s); the intake bounds the time against its clock too.
MAX_TIMESTAMP_S = 1e11


class _Event(msgspec.Struct):
    """The event fields the relay reads; msgspec skips the rest (stack traces, breadcrumbs) unbuilt."""

    event_id: Any = None
    project: Any = None
    environment: Any = None
    tags: Any = None
    contexts: Any = None
    datetime: Any = None
    timestamp: Any = None
    url: Any = None  # the event's API URL, which names the project slug


class _Data(msgspec.Struct):
    error: Optional[_Event] = None  # noqa: UP045 - msgspec reads these annotations at runtime on 3.10
    event: Optional[_Event] = None  # noqa: UP045


class _Envelope(msgspec.Struct):
    action: Any = None
    data: Optional[_Data] = None  # noqa: UP045


_DECODER = msgspec.json.Decoder(_Envelope)
_FIELDS = _Event.__struct_fields__


def decode(body: bytes) -> Any:
    """The webhook's JSON, reduced to the fields the relay reads; ValueError when the body is not JSON.

    A Sentry event is ~10 KB of JSON, mostly stack frames: parsing all of it with json.loads was
    the largest cost per webhook. msgspec validates the whole body but builds only these fields
    (BENCHMARKS.md). Anything it cannot take (an unexpected shape, a huge integer) falls back to
    json.loads, so what is accepted and rejected stays exactly json's.
    """
    try:
        envelope = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return json.loads(body)
    document: dict[str, Any] = {"action": envelope.action}
    if envelope.data is not None:
        data: dict[str, Any] = {}
        for key in ("error", "event"):
            event = getattr(envelope.data, key)
            if event is not None:
                data[key] = {name: value for name in _FIELDS if (value := getattr(event, name)) is not None}
        document["data"] = data
    return document


class PayloadError(ValueError):
    """A signed webhook whose JSON is not the shape Sentry documents; the message says what is wrong."""


@dataclass(frozen=True)
class WebhookEvent:
    """What the relay needs from one error event."""

    resource: str
    event_id: str
    project_id: str
    environment: str | None
    timestamp_ms: int | None
    contexts: Mapping[str, Any] = field(default_factory=dict)
    project_slug: str | None = None  # from `url`; None when the payload has no usable url


def resource_label(resource: str | None) -> str:
    """The resource name used in metrics: a known Sentry resource, "other", or "missing"."""
    if not resource:
        return "missing"
    return resource if resource in KNOWN_RESOURCES else "other"


def normalise_event_id(value: Any) -> str | None:
    """A Sentry event id as 32 lowercase hex digits (dashes of the UUID form removed), or None."""
    if not isinstance(value, str) or len(value) > 36:
        return None
    text = value.replace("-", "").lower()
    return text if _EVENT_ID.match(text) else None


def project_slug_of(url: Any, event_id: str) -> str | None:
    """The project slug named by an event's API `url`, if the url is that event's (sentry-api.md §7)."""
    if not isinstance(url, str) or len(url) > 2048:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    match = _EVENT_URL_PATH.search(path)
    if match is None or normalise_event_id(match.group(2)) != event_id:
        return None
    slug = unquote(match.group(1))
    return slug or None


def _project_id(value: Any) -> str | None:
    # Numeric in webhooks; tolerate the string form the REST API uses (sentry-api.md §3, §7).
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    return None


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def timestamp_ms_of(event: Mapping[str, Any]) -> int | None:
    """The event's time in Unix milliseconds from `timestamp` (epoch seconds) or `datetime` (ISO)."""
    seconds = event.get("timestamp")
    # The float first: it is the same instant as `datetime` and far cheaper to read than ISO text.
    if _is_number(seconds) and 0 < seconds < MAX_TIMESTAMP_S:
        return int(seconds * 1000)
    return parse_iso_ms(event.get("datetime")) or parse_iso_ms(seconds)


def storable(text: str) -> bool:
    """True when text can be stored and sent as UTF-8: no lone surrogate (JSON's `\\ud800`) and no NUL."""
    if "\x00" in text:
        return False  # PostgreSQL text refuses it
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_webhook(resource: str | None, document: Any) -> WebhookEvent | None:
    """The error event of an `error.created` or `event_alert.triggered` webhook; None for anything else."""
    # JSON objects decode to dict, and a dict check is several times cheaper than an ABC's.
    if not isinstance(document, dict):
        raise PayloadError("the body is not a JSON object")
    action = document.get("action")
    key = HANDLED.get((resource or "", action)) if isinstance(action, str) else None
    if key is None:
        return None
    data = document.get("data")
    event = data.get(key) if isinstance(data, dict) else None
    if not isinstance(event, dict):
        raise PayloadError(f"{resource} webhook without a data.{key} object")
    event_id = normalise_event_id(event.get("event_id"))
    if event_id is None:
        raise PayloadError(f"data.{key}.event_id is missing or not 32 hex digits")
    project_id = _project_id(event.get("project"))
    if project_id is None:
        raise PayloadError(f"data.{key}.project is missing or not a numeric project id")
    seconds = event.get("timestamp")
    # The bounds first: math.isfinite cannot take an integer too large for a float.
    if _is_number(seconds) and not (-MAX_TIMESTAMP_S < seconds < MAX_TIMESTAMP_S and math.isfinite(seconds)):
        raise PayloadError(f"data.{key}.timestamp is not a time in seconds since 1970")
    environment = event_environment(event)
    if environment is not None and not storable(environment):
        raise PayloadError(f"data.{key}.environment is not valid text")
    contexts = event.get("contexts")
    return WebhookEvent(
        resource=resource or "",
        event_id=event_id,
        project_id=project_id,
        environment=environment,
        timestamp_ms=timestamp_ms_of(event),
        contexts=contexts if isinstance(contexts, dict) else {},
        project_slug=project_slug_of(event.get("url"), event_id),
    )
