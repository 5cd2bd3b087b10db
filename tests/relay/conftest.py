"""Fixtures for the relay tests: a clean environment, a spool, and a relay wired to fakes."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_support import PostgresServer, postgres_server, unavailable_reason
from relay_helpers import SECRET, skip_or_fail

from ld_sentry_cli.relay.spool_sqlite import SqliteSpool


@pytest.fixture(autouse=True)
def relay_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No rotation secret from the developer's shell leaks into a test."""
    monkeypatch.delenv("SENTRY_CLIENT_SECRET_PREVIOUS", raising=False)
    monkeypatch.setenv("SENTRY_CLIENT_SECRET", SECRET)


@pytest.fixture
def spool_path(tmp_path: Path) -> Path:
    """Where a test's spool lives."""
    return tmp_path / "spool.db"


@pytest.fixture
def spool(spool_path: Path) -> Iterator[SqliteSpool]:
    """A fresh SQLite spool, closed after the test."""
    store = SqliteSpool(spool_path)
    yield store
    store.close()


@contextlib.contextmanager
def _postgres_or_skip() -> Iterator[PostgresServer]:
    reason = unavailable_reason()
    if reason is not None:
        skip_or_fail(reason)
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session; skips where none is installed (unless LDSENTRY_REQUIRE_POSTGRES=1)."""
    with _postgres_or_skip() as server:
        yield server


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of the test's own, which it may stop, while the session's stays up for the other tests; skips alike."""
    with _postgres_or_skip() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer, request: pytest.FixtureRequest) -> str:
    """The URL of a fresh database for one test."""
    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50]
    return postgres.create_database(name)
