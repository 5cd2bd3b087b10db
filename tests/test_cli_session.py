"""`live.session()`: every client a live command opens is closed whatever happens; the work gets its progress bar."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from ld_sentry_cli.cli import live
from ld_sentry_cli.errors import MissingTokenError
from ld_sentry_cli.http import SessionOptions
from ld_sentry_cli.launchdarkly import LaunchDarklyClient
from ld_sentry_cli.models import Config
from ld_sentry_cli.sentry import SentryClient


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the clients closed, in order (no request is ever sent: the work never asks for one)."""
    names: list[str] = []
    for cls in (LaunchDarklyClient, SentryClient):

        async def aclose(self: object, name: str = cls.__name__) -> None:
            names.append(name)

        monkeypatch.setattr(cls, "aclose", aclose)
    return names


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_ACCESS_TOKEN", "api-test-token")
    monkeypatch.setenv("SENTRY_AUTH_TOKEN", "sntryu_test-token")
    monkeypatch.setenv("SENTRY_ORG", "acme")


def test_every_client_opened_is_closed_when_the_work_fails(closed: list[str], tokens: None) -> None:
    async def work() -> None:
        async with live.session(Config()) as clients:
            clients.launchdarkly()
            clients.sentry()
            raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError, match="the work failed"):
        asyncio.run(work())

    assert closed == ["SentryClient", "LaunchDarklyClient"]


def test_a_client_that_cannot_open_leaves_the_others_closed(
    closed: list[str], tokens: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTRY_AUTH_TOKEN")

    async def work() -> None:
        async with live.session(Config()) as clients:
            clients.launchdarkly()
            clients.optional_sentry(required=True)

    with pytest.raises(MissingTokenError, match="No Sentry auth token"):
        asyncio.run(work())

    assert closed == ["LaunchDarklyClient"]


def test_an_optional_sentry_half_is_skipped_with_the_reason(
    closed: list[str], tokens: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTRY_AUTH_TOKEN")

    async def work() -> tuple[SentryClient | None, str | None]:
        async with live.session(Config()) as clients:
            return clients.optional_sentry(required=False)

    assert asyncio.run(work()) == (None, "SENTRY_AUTH_TOKEN is not set")
    assert closed == []


def test_both_clients_take_the_concurrency_through_session_options(
    closed: list[str], tokens: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    real = live.session_options

    def recording(concurrency: int) -> SessionOptions:
        asked.append(concurrency)
        return real(concurrency)

    monkeypatch.setattr(live, "session_options", recording)

    async def work() -> None:
        async with live.session(Config(), 3) as clients:
            clients.launchdarkly()
            clients.sentry(event_rate=2.0)

    asyncio.run(work())

    assert asked == [3, 3]


def test_the_progress_bar_spans_the_work_and_ends_before_the_clients_close(
    closed: list[str], tokens: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[object] = []

    @contextlib.contextmanager
    def recording_bar(description: str) -> Iterator[object]:
        events.append(f"bar {description!r} shown")
        yield lambda done, total: events.append((done, total))
        events.append(f"bar {description!r} gone")

    monkeypatch.setattr(live, "progress_bar", recording_bar)

    async def work() -> None:
        async with live.session(Config(), progress="Checking") as clients:
            clients.launchdarkly()
            assert clients.progress is not None
            clients.progress(1, 1)
        events.extend(closed)

    asyncio.run(work())

    assert events == ["bar 'Checking' shown", (1, 1), "bar 'Checking' gone", "LaunchDarklyClient"]


def test_no_progress_bar_unless_asked(closed: list[str], tokens: None) -> None:
    async def work() -> object:
        async with live.session(Config()) as clients:
            return clients.progress

    assert asyncio.run(work()) is None
