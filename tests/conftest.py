"""Shared fixtures: an isolated working folder and environment, and a CLI runner."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx.mocks
from emulator_support import Emulator
from typer.testing import CliRunner

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

# respx patches httpcore by default, which sits under httpx's own transport; ldsentry's sessions send
# through their own (ld_sentry_cli/http_transport.py). Every router in these tests therefore mocks one
# level up, where httpx hands a request to its transport: respx's `using="httpx"`, made the default.
respx.mocks.DEFAULT_MOCKER = respx.mocks.HTTPXMocker.name

SAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "sample-config.toml"


@pytest.fixture(autouse=True)
def isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """Run every test in an empty folder with no ldsentry-related environment variables."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    # Crash logs go to $XDG_CACHE_HOME/ldsentry: a folder of the test's own, not the user's cache.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture
def runner() -> CliRunner:
    """A CliRunner that keeps stdout and stderr apart."""
    return CliRunner()


def emulator_env(url: str) -> dict[str, str]:
    """The variables that point ldsentry at an emulator serving the demo scenario."""
    return {
        "LD_BASE_URI": url,
        "SENTRY_URL": url,
        "LD_ACCESS_TOKEN": "sandbox-ld-token",
        "SENTRY_AUTH_TOKEN": "sandbox-sentry-token",
        "SENTRY_ORG": "acme",
    }


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A fresh demo-scenario emulator on a free loopback port, with the environment pointing at it."""
    from ld_sentry_cli.sandbox import build_app, load_demo_scenario, serve_in_thread

    sandbox = build_app(load_demo_scenario())
    with serve_in_thread(sandbox) as server:
        env = emulator_env(server.url)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield Emulator(sandbox, server.url, env)


@pytest.fixture
def demo_config(isolated_env: Path) -> Path:
    """sample-config.toml copied to ./ldsentry.toml."""
    target = isolated_env / "ldsentry.toml"
    shutil.copyfile(SAMPLE_CONFIG, target)
    return target
