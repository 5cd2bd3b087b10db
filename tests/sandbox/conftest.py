"""Fixtures for the sandbox tests: the demo and unit scenarios, in-process and served clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sandbox_helpers import in_process_client, scenario, server_client

from ld_sentry_cli.sandbox import RunningServer, Sandbox, Scenario, build_app, load_demo_scenario, serve_in_thread
from ld_sentry_cli.sandbox.scenario_parser import scenario_from_dict


@pytest.fixture(scope="session")
def demo_scenario() -> Scenario:
    """The bundled demo scenario, parsed once."""
    return load_demo_scenario()


@pytest.fixture(scope="session")
def unit_scenario() -> Scenario:
    """The small unit-test scenario, validated once."""
    return scenario_from_dict(scenario())


@pytest.fixture
def demo(demo_scenario: Scenario) -> Sandbox:
    """A fresh sandbox of the demo scenario."""
    return build_app(demo_scenario)


@pytest.fixture
def unit(unit_scenario: Scenario) -> Sandbox:
    """A fresh sandbox of the unit scenario."""
    return build_app(unit_scenario)


@pytest.fixture
def demo_client(demo: Sandbox) -> Iterator[httpx.Client]:
    """An in-process, contract-checked client of the demo sandbox."""
    with in_process_client(demo) as client:
        yield client


@pytest.fixture
def client(unit: Sandbox) -> Iterator[httpx.Client]:
    """An in-process, contract-checked client of the unit sandbox."""
    with in_process_client(unit) as client:
        yield client


@pytest.fixture
def served(unit: Sandbox) -> Iterator[RunningServer]:
    """The unit sandbox served by uvicorn on a free loopback port."""
    with serve_in_thread(unit) as server:
        yield server


@pytest.fixture
def served_client(served: RunningServer) -> Iterator[httpx.Client]:
    """A contract-checked client of the served unit sandbox."""
    with server_client(served.url) as client:
        yield client
