"""Fixtures for the relay tests: a clean environment, a spool, and a relay wired to fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_helpers import SECRET

from ld_sentry_cli.relay.spool import SqliteSpool


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
