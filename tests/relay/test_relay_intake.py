"""The intake rules: what is rejected, acknowledged without forwarding, stored, and how it is counted."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from relay_helpers import (
    API_ID,
    ATTRIBUTE_VALUES,
    EVENT_ID,
    MAPPINGS,
    NOW,
    OLD_SECRET,
    SECRET,
    UNMAPPED_ID,
    WEB_ID,
    FakeProjects,
    MemoryStore,
    body_of,
    deliver,
    error_created,
    fixture,
    make_intake,
    sign,
)

from ld_sentry_cli.relay.intake import MAX_BODY_BYTES, Intake, Outcome, header_values
from ld_sentry_cli.relay.metrics import RelayMetrics
from ld_sentry_cli.relay.model import Destination
from ld_sentry_cli.relay.routing import EventRouter, ProjectResolver
from ld_sentry_cli.relay.spool_sqlite import SqliteSpool
from ld_sentry_cli.relay.worker import SpoolWorker


def metrics_of(intake: Intake) -> RelayMetrics:
    return intake._metrics


def test_a_mapped_event_with_a_usable_context_is_stored_then_acknowledged() -> None:
    store = MemoryStore()
    intake = make_intake(store)
    document = error_created(EVENT_ID)
    outcome = deliver(intake, document)
    assert outcome == Outcome(202, "accepted", None, EVENT_ID)
    assert outcome.body() == b'{"result":"accepted","event_id":"bb78c1407cea4519aa397afc059c793d"}'
    entry = store.entries[EVENT_ID]
    assert entry.destination == Destination("default", "production")
    assert json.loads(entry.payload) == {
        "kind": "custom",
        "key": "sentry-errors",
        "creationDate": int(document["data"]["error"]["timestamp"] * 1000),
        "contextKeys": {"user": "user-123", "organization": "org-42"},
    }
    assert not any(value in entry.payload for value in ATTRIBUTE_VALUES)
    assert entry.received_at == NOW
    metrics = metrics_of(intake)
    assert (metrics.accepted, metrics.received["error"], sum(metrics.rejected.values())) == (1, 1, 0)


def test_event_alert_triggered_is_forwarded_too() -> None:
    store = MemoryStore()
    document = fixture("event_alert_triggered.json")
    document["data"]["event"]["timestamp"] = NOW
    outcome = deliver(make_intake(store), document, resource="event_alert")
    assert outcome.status == 202
    entry = store.entries["0f4a2d8c9e1b4a6f8d2c3b5a7e9f1d20"]
    assert entry.destination == Destination("checkout", "production")
    assert json.loads(entry.payload)["contextKeys"] == {"user": "user-9"}


def test_a_duplicate_is_acknowledged_and_stored_once() -> None:
    store = MemoryStore()
    intake = make_intake(store)
    first = deliver(intake, error_created(EVENT_ID))
    again = deliver(intake, error_created(EVENT_ID))
    assert (first.status, again.status, again.result) == (202, 200, "duplicate")
    assert again.body() == b'{"result":"duplicate","event_id":"bb78c1407cea4519aa397afc059c793d"}'
    assert len(store.entries) == 1
    assert (metrics_of(intake).accepted, metrics_of(intake).duplicates) == (1, 1)


def test_an_event_without_timestamps_uses_the_receipt_time() -> None:
    store = MemoryStore()
    document = error_created(EVENT_ID)
    del document["data"]["error"]["timestamp"], document["data"]["error"]["datetime"]
    deliver(make_intake(store), document)
    assert json.loads(store.entries[EVENT_ID].payload)["creationDate"] == int(NOW * 1000)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (error_created(EVENT_ID, environment="qa"), "unmapped"),
        (error_created(EVENT_ID, project=API_ID, environment="staging"), "unmapped"),
        (error_created(EVENT_ID, project=UNMAPPED_ID), "unmapped"),
        (error_created(EVENT_ID, environment=None), "no_environment"),
        (error_created(EVENT_ID, drop_context=True), "missing_context"),
        (error_created(EVENT_ID, context={"kind": "user"}), "invalid_context"),
        (error_created(EVENT_ID, context="[Filtered]"), "invalid_context"),
        (error_created(EVENT_ID, context={"kind": "user", "key": ""}), "invalid_context"),
    ],
)
def test_events_that_cannot_be_forwarded_are_acknowledged_and_counted(document: Any, reason: str) -> None:
    store = MemoryStore()
    intake = make_intake(store)
    outcome = deliver(intake, document)
    assert outcome == Outcome(200, "skipped", reason, EVENT_ID)
    assert outcome.body() == f'{{"result":"skipped","reason":"{reason}","event_id":"{EVENT_ID}"}}'.encode()
    assert store.entries == {}
    assert metrics_of(intake).rejected == {reason: 1}


def test_a_misnamed_context_is_counted_as_such() -> None:
    document = error_created(EVENT_ID, drop_context=True)
    document["data"]["error"]["contexts"]["ldContext"] = {"kind": "user", "key": "u1"}
    outcome = deliver(make_intake(), document)
    assert (outcome.status, outcome.reason) == (200, "misnamed_context")


def test_a_legacy_context_without_kind_is_a_user_as_in_events_check() -> None:
    store = MemoryStore()
    deliver(make_intake(store), error_created(EVENT_ID, context={"key": "legacy-user", "type": "default"}))
    assert json.loads(store.entries[EVENT_ID].payload)["contextKeys"] == {"user": "legacy-user"}


@pytest.mark.parametrize(
    ("signature", "reason"),
    [(None, "missing_signature"), ("", "missing_signature"), ("ab" * 32, "bad_signature")],
)
def test_unsigned_or_wrongly_signed_webhooks_are_401_and_not_stored(signature: str | None, reason: str) -> None:
    store = MemoryStore()
    intake = make_intake(store)
    outcome = deliver(intake, error_created(EVENT_ID), signature=signature)
    assert outcome == Outcome(401, "rejected", reason)
    assert outcome.body() == f'{{"result":"rejected","reason":"{reason}"}}'.encode()
    assert store.entries == {} and metrics_of(intake).received == {}


def test_a_body_changed_after_signing_is_401() -> None:
    body = body_of(error_created(EVENT_ID))
    signature = sign(body)
    tampered = body.replace(b'"user-123"', b'"user-124"')
    outcome = asyncio.run(make_intake().handle("error", signature, tampered))
    assert (outcome.status, outcome.reason) == (401, "bad_signature")


def test_the_previous_secret_is_accepted_during_a_rotation() -> None:
    body = body_of(error_created(EVENT_ID))
    intake = make_intake(secrets=(SECRET, OLD_SECRET))
    assert asyncio.run(intake.handle("error", sign(body, OLD_SECRET), body)).status == 202


def test_a_body_over_one_mebibyte_is_413() -> None:
    document = error_created(EVENT_ID)
    document["data"]["error"]["extra"] = {"blob": "x" * MAX_BODY_BYTES}
    outcome = deliver(make_intake(), document)
    assert outcome == Outcome(413, "rejected", "too_large")


@pytest.mark.parametrize("body", [b"not json", b"", b"\xff\xfe{}", b'{"action": "created", "data": {'])
def test_a_signed_body_that_is_not_json_is_400(body: bytes) -> None:
    outcome = deliver(make_intake(), body)
    assert outcome == Outcome(400, "rejected", "not_json")


def test_a_signed_json_body_of_the_wrong_shape_is_400() -> None:
    document = error_created(EVENT_ID)
    del document["data"]["error"]["project"]
    store = MemoryStore()
    intake = make_intake(store)
    assert deliver(intake, document) == Outcome(400, "rejected", "invalid_payload")
    assert store.entries == {} and metrics_of(intake).received["error"] == 1


@pytest.mark.parametrize("resource", ["issue", "installation", "comment", "made-up"])
def test_other_resources_are_204_and_counted(resource: str) -> None:
    document = {"action": "created", "data": {"issue": {"id": "1"}}}
    intake = make_intake()
    outcome = deliver(intake, document, resource=resource)
    assert (outcome.status, outcome.body()) == (204, b"")
    expected = resource if resource != "made-up" else "other"
    assert metrics_of(intake).received == {expected: 1}


def test_a_spool_failure_is_503_so_sentry_tries_again() -> None:
    intake = make_intake(MemoryStore(fail=True))
    assert deliver(intake, error_created(EVENT_ID)) == Outcome(503, "rejected", "spool_error")


def test_events_are_parked_when_sentry_cannot_say_which_project_it_is() -> None:
    store = MemoryStore()
    intake = make_intake(store, FakeProjects(fail=True))
    assert deliver(intake, error_created(EVENT_ID, url=None)).status == 202
    entry = store.entries[EVENT_ID]
    assert (entry.destination, entry.sentry_project_id, entry.sentry_environment) == (None, str(WEB_ID), "production")
    assert metrics_of(intake).parked == 1 and metrics_of(intake).accepted == 0


def test_nothing_secret_or_personal_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ldsentry")
    intake = make_intake()
    deliver(intake, error_created(EVENT_ID))
    deliver(intake, error_created(EVENT_ID))
    deliver(intake, error_created("0" * 32, context={"kind": "user", "name": "Sandy"}))
    deliver(intake, error_created("1" * 32), signature="ab" * 32)
    document = error_created("2" * 32)
    del document["data"]["error"]["project"]
    deliver(intake, document)
    text = caplog.text
    assert EVENT_ID in text  # logs carry event ids ...
    for value in (SECRET, sign(body_of(error_created(EVENT_ID))), *ATTRIBUTE_VALUES, "user-123", "org-42"):
        assert value not in text  # ... never secrets, signatures, context keys or attributes


def test_header_values_reads_the_three_headers() -> None:
    headers = [
        (b"host", b"relay"),
        (b"content-length", b"123"),
        (b"sentry-hook-resource", b" error "),
        (b"sentry-hook-signature", b"abc"),
    ]
    assert header_values(headers) == ("error", "abc", 123)
    assert header_values([(b"content-length", b"x")]) == (None, None, None)


def test_with_the_real_spool_events_are_committed_before_the_answer(spool_path: Path) -> None:
    async def run() -> list[Outcome]:
        worker = SpoolWorker(SqliteSpool(spool_path))
        worker.start()
        intake = make_intake(worker)
        outcomes = []
        for document in (error_created(EVENT_ID), error_created(EVENT_ID), error_created("f" * 32)):
            body = body_of(document)
            outcomes.append(await intake.handle("error", sign(body), body))
        await worker.stop()
        return outcomes

    assert [o.status for o in asyncio.run(run())] == [202, 200, 202]
    reopened = SqliteSpool(spool_path)
    try:
        assert reopened.seen([EVENT_ID, "f" * 32, "e" * 32]) == {EVENT_ID, "f" * 32}
    finally:
        reopened.close()
    raw = spool_path.read_bytes()  # closed: the WAL is checkpointed into the file
    assert b"user-123" in raw and not any(value.encode() in raw for value in ATTRIBUTE_VALUES)


def test_the_url_names_the_project_so_no_sentry_api_is_asked() -> None:
    store = MemoryStore()
    projects = FakeProjects(fail=True)
    intake = make_intake(store, projects)
    assert deliver(intake, error_created(EVENT_ID)) == Outcome(202, "accepted", None, EVENT_ID)
    other = "c" * 32
    assert deliver(intake, error_created(other, project=API_ID)) == Outcome(202, "accepted", None, other)
    assert store.entries[EVENT_ID].destination == Destination("default", "production")
    assert store.entries[other].destination == Destination("checkout", "production")
    assert projects.calls == 0 and metrics_of(intake).parked == 0


def test_a_url_of_an_unmapped_project_is_unmapped_without_asking_sentry() -> None:
    projects = FakeProjects(fail=True)
    intake = make_intake(MemoryStore(), projects)
    url = f"https://sentry.example.com/prefix/api/0/projects/acme/unmapped-app/events/{EVENT_ID}/"
    assert deliver(intake, error_created(EVENT_ID, url=url)) == Outcome(200, "skipped", "unmapped", EVENT_ID)
    assert projects.calls == 0


def test_without_a_token_an_event_without_url_is_unmapped(caplog: pytest.LogCaptureFixture) -> None:
    intake = make_intake(router=EventRouter(MAPPINGS, ProjectResolver(None, ["web-frontend", "checkout-api"])))
    assert deliver(intake, error_created(EVENT_ID, url=None)) == Outcome(200, "skipped", "unmapped", EVENT_ID)
    assert deliver(intake, error_created("c" * 32)) == Outcome(202, "accepted", None, "c" * 32)
    assert f"a webhook of Sentry project id {WEB_ID} has no event url" in caplog.text
