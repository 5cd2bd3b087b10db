"""Parsing Sentry's webhook payloads over real-shaped fixtures (sentry-api.md §7)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from relay_helpers import WEB_ID, body_of, error_created, fixture

from ld_sentry_cli.relay.webhook import (
    PayloadError,
    WebhookEvent,
    decode,
    normalise_event_id,
    parse_webhook,
    project_slug_of,
    resource_label,
)

LD_CONTEXT = {
    "kind": "multi",
    "user": {"key": "user-123", "name": "Sandy", "email": "sandy@example.com"},
    "organization": {"key": "org-42", "name": "Acme"},
    "type": "launchdarklyContext",
}


def parse(resource: str, document: Any) -> WebhookEvent | None:
    """Parse as the relay does: decode the raw body, then read the event."""
    return parse_webhook(resource, decode(body_of(document)))


def test_error_created_fixture() -> None:
    event = parse("error", fixture("error_created.json"))
    assert event == WebhookEvent(
        resource="error",
        event_id="bb78c1407cea4519aa397afc059c793d",
        project_id=str(WEB_ID),
        environment="production",
        timestamp_ms=1787173117391,
        contexts=event.contexts if event else {},
        project_slug="web-frontend",
    )
    assert event is not None and event.contexts["launchdarklyContext"] == LD_CONTEXT
    assert set(event.contexts) == {"launchdarklyContext", "runtime", "os", "trace"}


def test_event_alert_triggered_fixture() -> None:
    event = parse("event_alert", fixture("event_alert_triggered.json"))
    assert event is not None
    assert (event.resource, event.event_id, event.project_id, event.environment) == (
        "event_alert",
        "0f4a2d8c9e1b4a6f8d2c3b5a7e9f1d20",
        "4505278497",
        "production",
    )
    assert event.contexts["launchdarklyContext"] == {"kind": "user", "key": "user-9", "type": "launchdarklyContext"}
    assert event.timestamp_ms == 1787180000250
    assert event.project_slug == "checkout-api"


def test_the_environment_tag_pair_is_used_when_the_top_level_key_is_absent() -> None:
    document = error_created(environment="staging")
    del document["data"]["error"]["environment"]
    event = parse("error", document)
    assert event is not None and event.environment == "staging"


def test_rest_style_tag_objects_are_read_too() -> None:
    document = error_created()
    event = document["data"]["error"]
    del event["environment"]
    event["tags"] = [{"key": "level", "value": "error"}, {"key": "environment", "value": "qa"}]
    parsed = parse("error", document)
    assert parsed is not None and parsed.environment == "qa"


def test_a_missing_environment_is_none() -> None:
    event = parse("error", error_created(environment=None))
    assert event is not None and event.environment is None


def test_the_time_comes_from_timestamp_else_datetime() -> None:
    document = fixture("error_created.json")
    del document["data"]["error"]["timestamp"]
    event = parse("error", document)
    assert event is not None and event.timestamp_ms == 1787173117391  # from "2026-08-19T20:58:37.391000Z"
    del document["data"]["error"]["datetime"]
    event = parse("error", document)
    assert event is not None and event.timestamp_ms is None


def test_missing_contexts_are_an_empty_object() -> None:
    document = error_created()
    del document["data"]["error"]["contexts"]
    event = parse("error", document)
    assert event is not None and event.contexts == {}


@pytest.mark.parametrize(
    ("resource", "action"),
    [("issue", "created"), ("error", "resolved"), ("event_alert", "created"), ("installation", "created"), ("", "")],
)
def test_other_resources_and_actions_are_not_events(resource: str, action: str) -> None:
    document = error_created()
    document["action"] = action
    assert parse(resource, document) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("data"), "error webhook without a data.error object"),
        (lambda d: d["data"].pop("error"), "error webhook without a data.error object"),
        (lambda d: d["data"].__setitem__("error", [1]), "error webhook without a data.error object"),
        (lambda d: d["data"]["error"].pop("event_id"), "data.error.event_id is missing or not 32 hex digits"),
        (lambda d: d["data"]["error"].__setitem__("event_id", "xyz"), "data.error.event_id is missing or not 32 hex"),
        (lambda d: d["data"]["error"].pop("project"), "data.error.project is missing or not a numeric project id"),
        (lambda d: d["data"]["error"].__setitem__("project", "web"), "data.error.project is missing or not a numeric"),
        (lambda d: d["data"]["error"].__setitem__("project", True), "data.error.project is missing or not a numeric"),
    ],
)
def test_malformed_events_say_what_is_wrong(change: Any, message: str) -> None:
    document = error_created()
    change(document)
    with pytest.raises(PayloadError) as caught:
        parse("error", document)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("document", [[1, 2], "text", 3, None])
def test_a_body_that_is_not_an_object_is_a_payload_error(document: Any) -> None:
    with pytest.raises(PayloadError, match=r"^the body is not a JSON object$"):
        parse("error", document)


def test_an_action_that_is_not_a_string_is_not_an_event() -> None:
    document = error_created()
    document["action"] = ["created"]
    assert parse("error", document) is None


def test_event_ids_are_normalised() -> None:
    assert normalise_event_id("BB78C140-7CEA-4519-AA39-7AFC059C793D") == "bb78c1407cea4519aa397afc059c793d"
    assert normalise_event_id("bb78c1407cea4519aa397afc059c793d") == "bb78c1407cea4519aa397afc059c793d"
    for bad in ("", "bb78", 42, None, "g" * 32, "a" * 40):
        assert normalise_event_id(bad) is None


def test_string_project_ids_are_accepted() -> None:
    document = error_created()
    document["data"]["error"]["project"] = "4505278496"
    event = parse("error", document)
    assert event is not None and event.project_id == "4505278496"


def test_the_fast_decoder_reads_what_json_reads() -> None:
    """decode() keeps only the fields the relay uses, and parses them exactly as json.loads does."""
    raw = body_of(fixture("error_created.json"))
    assert parse_webhook("error", decode(raw)) == parse_webhook("error", json.loads(raw))
    assert parse_webhook("event_alert", decode(body_of(fixture("event_alert_triggered.json")))) == parse_webhook(
        "event_alert", json.loads(body_of(fixture("event_alert_triggered.json")))
    )


@pytest.mark.parametrize(
    "raw",
    [
        b'{"action": "created", "data": {"error": {"event_id": 12345678901234567890123456789}}}',  # beyond 64 bits
        b'{"action": "created", "data": []}',  # an unexpected shape: json.loads decides
        b"[1, 2]",
        b'{"action": "created", "extra": NaN}',  # json accepts NaN
    ],
)
def test_what_the_fast_decoder_cannot_take_falls_back_to_json(raw: bytes) -> None:
    assert decode(raw) == json.loads(raw) or decode(raw)["action"] == json.loads(raw)["action"]


@pytest.mark.parametrize("raw", [b"", b"not json", b'{"action": ', b"\xff\xfe", b"{'single': 'quotes'}"])
def test_a_body_that_is_not_json_raises_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode(raw)


def test_resource_labels_are_a_bounded_set() -> None:
    assert [resource_label(r) for r in ("error", "event_alert", "issue", None, "", "made-up")] == [
        "error",
        "event_alert",
        "issue",
        "missing",
        "missing",
        "other",
    ]


@pytest.mark.parametrize(
    ("url", "slug"),
    [
        (f"https://sentry.io/api/0/projects/acme/web-frontend/events/{'ab' * 16}/", "web-frontend"),
        (f"https://sentry.example.com/sentry/api/0/projects/acme/checkout-api/events/{'ab' * 16}", "checkout-api"),
        (f"https://sentry.io/api/0/projects/acme/web-frontend/events/{'cd' * 16}/", None),  # another event's
        ("https://sentry.io/api/0/issues/1170820242/", None),
        ("not a url", None),
        (42, None),
        (None, None),
    ],
)
def test_the_project_slug_comes_from_the_event_url(url: object, slug: str | None) -> None:
    assert project_slug_of(url, "ab" * 16) == slug
