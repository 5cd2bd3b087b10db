"""The metric import endpoint: its required headers, body validation, and the recorded events."""

from __future__ import annotations

import gzip
import json
import uuid

import httpx
import pytest
from sandbox_helpers import IMPORT_HEADERS

from ld_sentry_cli.sandbox import Sandbox

URL = "/v2/event-data-import/alpha/production"


def event(key: str = "sentry-errors", **extra: object) -> dict[str, object]:
    """One custom event in the import API's shape."""
    return {"kind": "custom", "key": key, "creationDate": 1_760_000_000_000, "contextKeys": {"user": "u1"}, **extra}


def test_accepted_payloads_are_recorded_with_their_payload_id(unit: Sandbox, client: httpx.Client) -> None:
    payload_id = str(uuid.uuid4())
    body = [event(), event(contextKeys={"user": "u2", "organization": "o1"}, metricValue=1)]
    response = client.post(URL, headers={**IMPORT_HEADERS, "X-LaunchDarkly-Payload-ID": payload_id}, json=body)
    assert response.status_code == 202 and response.content == b""
    imported = unit.imported_events()
    assert [(e.project_key, e.environment_key, e.payload_id) for e in imported] == [
        ("alpha", "production", payload_id)
    ] * 2
    assert [e.event for e in imported] == body
    # A retry re-sends the same payload id; the sandbox keeps both so tests can see the retry.
    client.post(URL, headers={**IMPORT_HEADERS, "X-LaunchDarkly-Payload-ID": payload_id}, json=[event()])
    assert [e.payload_id for e in unit.imported_events()] == [payload_id] * 3


def test_gzip_bodies_and_a_missing_payload_id_are_fine(unit: Sandbox, client: httpx.Client) -> None:
    content = gzip.compress(json.dumps([event()]).encode())
    headers = {**IMPORT_HEADERS, "Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert client.post(URL, headers=headers, content=content).status_code == 202
    assert unit.imported_events()[0].payload_id is None


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Authorization": "nope"}, 401, "unauthorized"),
        ({"Authorization": "ld-reader"}, 403, "forbidden"),
        ({"X-LaunchDarkly-Event-Schema": "3"}, 400, "invalid_request"),
        ({"User-Agent": "ldsentry/0.1"}, 400, "invalid_request"),
    ],
)
def test_header_requirements(
    unit: Sandbox, client: httpx.Client, headers: dict[str, str], status: int, code: str
) -> None:
    response = client.post(URL, headers={**IMPORT_HEADERS, **headers}, json=[event()])
    assert response.status_code == status and response.json()["code"] == code
    assert unit.imported_events() == []


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"kind": "custom"},
        [event(kind="feature")],
        [event(key="")],
        [event(creationDate="yesterday")],
        [event(contextKeys={})],
        [event(contextKeys={"user": ""})],
        [event(metricValue="1")],
        [event(), "not an event"],
    ],
)
def test_malformed_bodies_are_400_and_nothing_is_recorded(unit: Sandbox, client: httpx.Client, body: object) -> None:
    response = client.post(URL, headers=IMPORT_HEADERS, json=body)
    assert response.status_code == 400
    assert unit.imported_events() == []


def test_unknown_project_or_environment_is_404(client: httpx.Client) -> None:
    assert (
        client.post("/v2/event-data-import/nope/production", headers=IMPORT_HEADERS, json=[event()]).status_code == 404
    )
    assert client.post("/v2/event-data-import/alpha/qa", headers=IMPORT_HEADERS, json=[event()]).status_code == 404
    assert client.post(URL, headers=IMPORT_HEADERS, content=b"[{").status_code == 400
