"""The demo emulator as tests use it: what the `emulator` fixture yields, and the variables pointing ldsentry at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from ld_sentry_cli.sandbox import build_app, load_demo_scenario, serve_in_thread

if TYPE_CHECKING:
    from ld_sentry_cli.sandbox import Sandbox
    from ld_sentry_cli.sandbox.app import ScenarioSource

LD_TOKEN = "sandbox-ld-token"  # the demo scenario's tokens
SENTRY_TOKEN = "sandbox-sentry-token"


def emulator_env(url: str) -> dict[str, str]:
    """The variables that point ldsentry at an emulator serving the demo scenario on url."""
    return {
        "LD_BASE_URI": url,
        "SENTRY_URL": url,
        "LD_ACCESS_TOKEN": LD_TOKEN,
        "SENTRY_AUTH_TOKEN": SENTRY_TOKEN,
        "SENTRY_ORG": "acme",
    }


def use_emulator(monkeypatch: pytest.MonkeyPatch, url: str) -> dict[str, str]:
    """Point ldsentry at the emulator on url for this test (the variables of `emulator_env`), and return them."""
    env = emulator_env(url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@dataclass(frozen=True)
class Emulator:
    """A running emulator: the in-process app (for its request log) and the variables pointing at it."""

    sandbox: Sandbox
    url: str
    env: dict[str, str]


@contextmanager
def serve_emulator(scenario: ScenarioSource) -> Iterator[Emulator]:
    """Serve a scenario on a free loopback port; `env` holds the demo tokens, so the scenario must accept them."""
    sandbox = build_app(scenario)
    with serve_in_thread(sandbox) as server:
        yield Emulator(sandbox, server.url, emulator_env(server.url))


@contextmanager
def emulator_in_use(monkeypatch: pytest.MonkeyPatch, scenario: ScenarioSource) -> Iterator[Emulator]:
    """Serve a scenario and point ldsentry at it for this test (the variables of `use_emulator`)."""
    with serve_emulator(scenario) as running:
        use_emulator(monkeypatch, running.url)
        yield running


@contextmanager
def demo_emulator() -> Iterator[Emulator]:
    """Serve the demo scenario (it matches sample-config.toml) on a free loopback port."""
    with serve_emulator(load_demo_scenario()) as running:
        yield running
