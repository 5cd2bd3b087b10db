"""An emulator of the LaunchDarkly and Sentry API subsets ldsentry uses, for tests and `ldsentry demo`.

    from ld_sentry_cli.sandbox import build_app, serve_in_thread, load_demo_scenario

    sandbox = build_app(load_demo_scenario())        # or a TOML path, or a scenario dict
    with serve_in_thread(sandbox) as server:         # uvicorn on 127.0.0.1, a free port
        ...  # point ldsentry at server.url
    sandbox.requests(), sandbox.counters(), sandbox.imported_events()

Exports load lazily: reading a scenario does not import Starlette or uvicorn, and nothing outside
this package imports them at all (the CLI must not pay their import cost).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ld_sentry_cli.sandbox.app import Sandbox, build_app
    from ld_sentry_cli.sandbox.faults import FaultPlan, FaultRule
    from ld_sentry_cli.sandbox.middleware import ConnectionDropped
    from ld_sentry_cli.sandbox.recorder import Counters, ImportedEvent, RequestRecord
    from ld_sentry_cli.sandbox.scenario import Scenario
    from ld_sentry_cli.sandbox.scenario_parser import (
        ScenarioError,
        demo_scenario_path,
        load_demo_scenario,
        load_scenario,
        parse_scenario_text,
        scenario_from_dict,
    )
    from ld_sentry_cli.sandbox.server import RunningServer, serve_forever, serve_in_thread, start_server

_EXPORTS = {
    "Sandbox": "app",
    "build_app": "app",
    "FaultPlan": "faults",
    "FaultRule": "faults",
    "ConnectionDropped": "middleware",
    "Counters": "recorder",
    "ImportedEvent": "recorder",
    "RequestRecord": "recorder",
    "Scenario": "scenario",
    "ScenarioError": "scenario_parser",
    "demo_scenario_path": "scenario_parser",
    "load_demo_scenario": "scenario_parser",
    "load_scenario": "scenario_parser",
    "parse_scenario_text": "scenario_parser",
    "scenario_from_dict": "scenario_parser",
    "RunningServer": "server",
    "serve_forever": "server",
    "serve_in_thread": "server",
    "start_server": "server",
}

__all__ = [
    "ConnectionDropped",
    "Counters",
    "FaultPlan",
    "FaultRule",
    "ImportedEvent",
    "RequestRecord",
    "RunningServer",
    "Sandbox",
    "Scenario",
    "ScenarioError",
    "build_app",
    "demo_scenario_path",
    "load_demo_scenario",
    "load_scenario",
    "parse_scenario_text",
    "scenario_from_dict",
    "serve_forever",
    "serve_in_thread",
    "start_server",
]


def __getattr__(name: str) -> Any:
    """Import an export's module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
