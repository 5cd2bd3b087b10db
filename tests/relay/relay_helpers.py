"""Shared pieces of the relay tests: signed webhooks, an emulator scenario, fakes for the clients, a relay to run."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import httpx
import pytest
from typer.testing import CliRunner

from ld_sentry_cli.api_models import SentryProject
from ld_sentry_cli.cli import app
from ld_sentry_cli.errors import NetworkError
from ld_sentry_cli.models import Config, ProjectMapping
from ld_sentry_cli.relay.app import build_app
from ld_sentry_cli.relay.forwarder import SendResult
from ld_sentry_cli.relay.intake import Intake, Outcome
from ld_sentry_cli.relay.metrics import RelayMetrics
from ld_sentry_cli.relay.model import BatchEvent, Destination, SpoolEntry, metric_event
from ld_sentry_cli.relay.routing import EventRouter, ProjectResolver
from ld_sentry_cli.relay.service import Relay, RelayOptions
from ld_sentry_cli.relay.spool_sqlite import SqliteSpool

T = TypeVar("T")

REQUIRE_POSTGRES_ENV = "LDSENTRY_REQUIRE_POSTGRES"

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_TIME = 1787173117.391  # data.error.timestamp of fixtures/error_created.json
SECRET = "relay-test-client-secret"
OLD_SECRET = "relay-test-old-secret"
LD_TOKEN = "sandbox-ld-token"
SENTRY_TOKEN = "sandbox-sentry-token"
WEB_ID = 4505278496  # web-frontend, as in the fixture
API_ID = 4505278497
UNMAPPED_ID = 4505278499
SLUGS = {WEB_ID: "web-frontend", API_ID: "checkout-api", UNMAPPED_ID: "unmapped-app"}
EVENT_ID = "bb78c1407cea4519aa397afc059c793d"
# The intake's clock in the intake tests: error_created() stamps events with the real time, a moment later.
NOW = time.time()
# Values that must never reach a log, an output or the spool (only the context keys may).
ATTRIBUTE_VALUES = ("Sandy", "sandy@example.com", "Acme")

MAPPINGS = (
    ProjectMapping("web-frontend", "production", "default", "production"),
    ProjectMapping("web-frontend", "staging", "default", "staging"),
    ProjectMapping("checkout-api", "production", "checkout", "production"),
)
CONFIG = Config(mappings=MAPPINGS)
PROD = Destination("default", "production")
STAGING = Destination("default", "staging")
PROJECTS = [SentryProject(str(WEB_ID), "web-frontend"), SentryProject(str(API_ID), "checkout-api")]

SCENARIO: dict[str, Any] = {
    "name": "relay",
    "launchdarkly": {
        "tokens": [{"value": LD_TOKEN}, {"value": "ld-reader", "access": "reader"}],
        "projects": [
            {"key": "default", "environments": ["production", "staging"]},
            {"key": "checkout", "environments": ["production"]},
        ],
    },
    "sentry": {
        "organization": "acme",
        "tokens": [{"value": SENTRY_TOKEN}],
        "projects": [
            {"slug": "web-frontend", "id": WEB_ID, "environments": ["production", "staging"]},
            {"slug": "checkout-api", "id": API_ID, "environments": ["production"]},
            {"slug": "unmapped-app", "id": UNMAPPED_ID, "environments": ["production"]},
        ],
    },
}


def spool_entry(n: int, destination: Destination | None = PROD, at: float = 100.0) -> SpoolEntry:
    """Event n (its id n in hex) for destination, accepted at `at`; parked with its Sentry project without one."""
    return SpoolEntry(
        event_id=f"{n:032x}",
        payload=metric_event("sentry-errors", 1_787_173_117_000 + n, {"user": f"user-{n}"}),
        received_at=at,
        destination=destination,
        sentry_project_id=str(WEB_ID) if destination is None else None,
        sentry_environment="production" if destination is None else None,
    )


def ids(events: Iterable[BatchEvent]) -> list[int]:
    """The numbers of a batch's events (spool_entry's n)."""
    return [int(e.event_id, 16) for e in events]


def fixture(name: str) -> dict[str, Any]:
    """A parsed copy of a JSON fixture."""
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def error_created(
    event_id: str | None = None,
    *,
    project: int = WEB_ID,
    environment: str | None = "production",
    context: Any = None,
    drop_context: bool = False,
    url: str | None = "",
    at: float | None = None,
) -> dict[str, Any]:
    """The real-shaped error.created fixture with the given event id, project, environment, context and time.

    `url` is the event's API URL, which names the project slug: by default the one of `project`
    (none for a project Sentry does not know), None to leave it out. The time is now unless `at` says
    otherwise (epoch seconds): the relay skips events older than its replay window, and the fixture's
    own time (FIXTURE_TIME) is months old.
    """
    document = fixture("error_created.json")
    event = document["data"]["error"]
    event["event_id"] = event_id or uuid.uuid4().hex
    moment = round(time.time() if at is None else at, 3)
    event["timestamp"] = moment
    event["datetime"] = datetime.fromtimestamp(moment, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    event["project"] = project
    if url == "" and project in SLUGS:
        url = f"https://sentry.io/api/0/projects/acme/{SLUGS[project]}/events/{event['event_id']}/"
    if url:
        event["url"] = url
    else:
        event.pop("url")
    if environment is None:
        event.pop("environment")
        event["tags"] = [tag for tag in event["tags"] if tag[0] != "environment"]
    else:
        event["environment"] = environment
        event["tags"] = [tag if tag[0] != "environment" else ["environment", environment] for tag in event["tags"]]
    if drop_context:
        event["contexts"].pop("launchdarklyContext")
    elif context is not None:
        event["contexts"]["launchdarklyContext"] = context
    return document


def body_of(document: Any) -> bytes:
    """Serialise as Sentry does (any stable JSON text; the signature covers these exact bytes)."""
    return json.dumps(document).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    """The Sentry-Hook-Signature of body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hook_headers(body: bytes, resource: str = "error", secret: str = SECRET) -> dict[str, str]:
    """Headers Sentry sends with a webhook (sentry-api.md §7)."""
    return {
        "Content-Type": "application/json",
        "Request-ID": uuid.uuid4().hex,
        "Sentry-Hook-Resource": resource,
        "Sentry-Hook-Timestamp": "1787173117",
        "Sentry-Hook-Signature": sign(body, secret),
    }


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    """Run `ldsentry ARGS`; its exit code, stdout and stderr."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def scenario(**changes: Any) -> dict[str, Any]:
    """A copy of SCENARIO with top-level sections replaced."""
    result = copy.deepcopy(SCENARIO)
    result.update(copy.deepcopy(changes))
    return result


def config_text(url: str, *, extra: str = "") -> str:
    """An ldsentry.toml for the emulator at url with the three test mappings."""
    mappings = "".join(
        f'\n[[mapping]]\nsentry_project = "{m.sentry_project}"\nsentry_environment = "{m.sentry_environment}"\n'
        f'ld_project = "{m.ld_project}"\nld_environment = "{m.ld_environment}"\n'
        for m in MAPPINGS
    )
    return (
        f'[launchdarkly]\nbase_url = "{url}"\n\n[sentry]\norganization = "acme"\nbase_url = "{url}"\n{extra}{mappings}'
    )


class FakeProjects:
    """A Sentry project source that counts its calls and can fail or be slow."""

    def __init__(self, projects: Sequence[SentryProject] = PROJECTS, *, fail: bool = False, delay: float = 0.0):
        self.projects = list(projects)
        self.fail = fail
        self.delay = delay
        self.calls = 0

    async def list_projects(self, refresh: bool = False) -> list[SentryProject]:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise NetworkError("Could not reach Sentry at sentry.test after 1 attempt: refused")
        return list(self.projects)


class FakeSender:
    """An import sender that records every attempt and answers from a script (then 202)."""

    def __init__(self, script: Sequence[SendResult] = ()) -> None:
        self.script = list(script)
        self.attempts: list[tuple[Destination, str, list[dict[str, Any]]]] = []

    async def send(self, destination: Destination, payload_id: str, payloads: Sequence[str]) -> SendResult:
        self.attempts.append((destination, payload_id, [json.loads(p) for p in payloads]))
        if self.script:
            return self.script.pop(0)
        return SendResult(ok=True, status=202)


class MemoryStore:
    """A deduplicating in-memory event store for an Intake; fail=True makes every add fail as a full disk would."""

    def __init__(self, fail: bool = False) -> None:
        self.entries: dict[str, SpoolEntry] = {}
        self.fail = fail

    async def add(self, entry: SpoolEntry) -> bool:
        if self.fail:
            raise OSError("disk full")
        if entry.event_id in self.entries:
            return False
        self.entries[entry.event_id] = entry
        return True


def make_intake(
    store: Any = None,
    projects: FakeProjects | None = None,
    *,
    secrets: tuple[str, ...] = (SECRET,),
    router: Any = None,
) -> Intake:
    """An Intake over store (a MemoryStore by default) routing MAPPINGS, its clock stopped at NOW."""
    resolver = ProjectResolver(projects or FakeProjects(), ["web-frontend", "checkout-api"])
    return Intake(
        [s.encode() for s in secrets],
        router or EventRouter(MAPPINGS, resolver),
        store if store is not None else MemoryStore(),
        RelayMetrics(),
        "sentry-errors",
        clock=lambda: NOW,
    )


def deliver(intake: Intake, document: Any, *, resource: str = "error", signature: str | None = "sign") -> Outcome:
    """Hand one webhook (a document, or raw bytes) to intake, signed with SECRET unless a signature is given."""
    body = document if isinstance(document, bytes) else body_of(document)
    if signature == "sign":
        signature = sign(body)
    return asyncio.run(intake.handle(resource, signature, body))


def ok() -> SendResult:
    """A 202."""
    return SendResult(ok=True, status=202)


def transient(status: int | None = 503, retry_after: float | None = None) -> SendResult:
    """A retryable failure."""
    return SendResult(ok=False, transient=True, status=status, retry_after=retry_after, message=f"HTTP {status}")


def refused(status: int = 400) -> SendResult:
    """A permanent refusal."""
    return SendResult(ok=False, status=status, message=f"LaunchDarkly refused the request (HTTP {status})")


def with_started_relay(
    spool_path: Path,
    work: Callable[[httpx.AsyncClient, Relay], Awaitable[T]],
    *,
    options: RelayOptions,
    projects: FakeProjects | None = None,
    sender: FakeSender | None = None,
) -> T:
    """Run work against a relay on an SQLite spool, started, behind an in-process HTTP client; then stop it."""
    relay = Relay(
        CONFIG,
        SqliteSpool(spool_path),
        secrets=[SECRET.encode()],
        sender=sender or FakeSender(),
        projects=projects or FakeProjects(),
        options=options,
    )

    async def run() -> T:
        await relay.start()
        try:
            transport = httpx.ASGITransport(app=build_app(relay))
            async with httpx.AsyncClient(transport=transport, base_url="http://relay.test") as client:
                return await work(client, relay)
        finally:
            await relay.stop()

    return asyncio.run(run())


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test (or its module) for want of PostgreSQL; fail instead under LDSENTRY_REQUIRE_POSTGRES=1 (CI)."""
    if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
        pytest.fail(f"{REQUIRE_POSTGRES_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_psycopg() -> Any:
    """The psycopg module, for a test module that uses it; skip_or_fail without it."""
    try:
        import psycopg  # noqa: PLC0415 - optional (the relay extra): the module skips without it
    except ImportError:
        skip_or_fail("psycopg is not installed (pip install '.[relay]')")
    return psycopg
