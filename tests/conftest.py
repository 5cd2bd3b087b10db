"""Shared fixtures: an isolated working folder and environment, and a CLI runner."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulator_support import Emulator, demo_emulator, emulator_in_use
from support import FakeTime, no_jitter
from typer.testing import CliRunner

from ld_sentry_cli import secrets
from ld_sentry_cli.cli import live
from ld_sentry_cli.http import SessionOptions
from ld_sentry_cli.sandbox import load_demo_scenario

ENV_VARS = (
    "LD_ACCESS_TOKEN",
    "LAUNCHDARKLY_ACCESS_TOKEN",
    "LD_BASE_URI",
    "SENTRY_AUTH_TOKEN",
    "SENTRY_URL",
    "SENTRY_ORG",
    "SENTRY_CLIENT_SECRET",
    "LDSENTRY_CONFIG",
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_OUTPUT",
)

SAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "sample-config.toml"


@pytest.fixture(autouse=True)
def isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """Run every test in an empty folder with no ldsentry-related environment variables or known secrets."""
    monkeypatch.setattr(secrets, "_known", set())
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    # Crash logs go to $XDG_CACHE_HOME/ldsentry: a folder of the test's own, not the user's cache.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture(autouse=True)
def instant_backoff(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """Commands retry as they always do, but their waits return at once: no test sleeps through backoff.

    Every client a command builds takes its SessionOptions from `live.session_options`; here they sleep on a
    FakeTime with no jitter, so each wait is exactly the backoff and `instant_backoff.sleeps` lists them. The
    clocks stay real: the emulator's rate-limit reset headers are real epoch times.
    """
    fake = FakeTime()

    def options(concurrency: int) -> SessionOptions:
        return SessionOptions(concurrency=concurrency, sleep=fake.sleep, random_fn=no_jitter)

    monkeypatch.setattr(live, "session_options", options)
    return fake


@pytest.fixture
def runner() -> CliRunner:
    """A CliRunner that keeps stdout and stderr apart."""
    return CliRunner()


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A fresh demo-scenario emulator on a free loopback port, with the environment pointing at it."""
    with emulator_in_use(monkeypatch, load_demo_scenario()) as running:
        yield running


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[Emulator]:
    """One demo emulator for a whole test module, for tests that only read from it (each may reset its log)."""
    with demo_emulator() as running:
        yield running


@pytest.fixture
def demo_config(isolated_env: Path) -> Path:
    """sample-config.toml copied to ./ldsentry.toml."""
    target = isolated_env / "ldsentry.toml"
    shutil.copyfile(SAMPLE_CONFIG, target)
    return target
