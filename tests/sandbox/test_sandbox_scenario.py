"""Scenario files: the documented format, the demo story, and clear errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import scenario

from ld_sentry_cli.sandbox import (
    FaultPlan,
    FaultRule,
    Scenario,
    ScenarioError,
    build_app,
    demo_scenario_path,
    load_scenario,
    parse_scenario_text,
    scenario_from_dict,
)


def test_demo_scenario_tells_the_documented_story(demo_scenario: Scenario) -> None:
    ld = {p.key: p for p in demo_scenario.launchdarkly.projects}
    assert set(ld) == {"default", "checkout", "mobile"}
    assert not any(m.event_key == "sentry-errors" for m in ld["default"].metrics)
    checkout = ld["checkout"]
    assert checkout.filler_metrics + len(checkout.metrics) == 120
    assert checkout.metrics[-1].key == "sentry-errors" and not checkout.metrics[-1].is_numeric
    mobile_sentry = [m for m in ld["mobile"].metrics if m.event_key == "sentry-errors"]
    assert [(m.key, m.archived) for m in mobile_sentry] == [("sentry-errors-old", True)]
    sentry = demo_scenario.sentry
    assert sentry.organization == "acme"
    slugs = {p.slug for p in sentry.projects}
    assert {"web-frontend", "checkout-api", "mobile-app"} <= slugs
    assert len(slugs) > sentry.projects_page_size  # the project list needs two pages
    assert any(p.hidden_environments for p in sentry.projects)
    tokens = [t.value for t in demo_scenario.launchdarkly.tokens] + [t.value for t in sentry.tokens]
    assert tokens == ["sandbox-ld-token", "sandbox-sentry-token"]


def test_demo_web_frontend_production_mixes_every_kind_of_context(demo_scenario: Scenario) -> None:
    web = next(p for p in demo_scenario.sentry.projects if p.slug == "web-frontend")
    contexts = [e.contexts for e in web.events if e.environment == "production"]
    names = {name for ctx in contexts for name in ctx}
    assert {"launchdarklyContext", "launchDarklyContext", "ld_context"} <= names
    ld_contexts = [ctx["launchdarklyContext"] for ctx in contexts if "launchdarklyContext" in ctx]
    assert any(c.get("kind") == "multi" for c in ld_contexts)
    assert any(c.get("key") == "[Filtered]" for c in ld_contexts)
    assert any(c.get("key") == "" for c in ld_contexts)
    assert any("launchdarklyContext" not in ctx for ctx in contexts)
    checkout = next(p for p in demo_scenario.sentry.projects if p.slug == "checkout-api")
    assert all("launchdarklyContext" in e.contexts for e in checkout.events if e.environment == "production")


def test_toml_and_dict_forms_are_the_same_format() -> None:
    text = """
name = "tiny"
[[launchdarkly.tokens]]
value = "t"
[[launchdarkly.projects]]
key = "p"
environments = ["production", { key = "qa", name = "QA", critical = false }]
filler_metrics = 3
[[launchdarkly.projects.metrics]]
key = "sentry-errors"
event_key = "sentry-errors"
last_seen = "2h"
[sentry]
organization = "o"
[[sentry.projects]]
slug = "s"
id = 7
environments = ["production"]
[[sentry.projects.events]]
age = "1h"
environment = "production"
contexts.launchdarklyContext = { kind = "user", key = "u" }
[faults]
seed = 3
latency_ms = 5
[[faults.routes]]
prefix = "/v2/event-data-import/"
dropped = 0.5
"""
    from_toml = parse_scenario_text(text, source="tiny.toml")
    from_dict = scenario_from_dict(
        {
            "name": "tiny",
            "launchdarkly": {
                "tokens": [{"value": "t"}],
                "projects": [
                    {
                        "key": "p",
                        "environments": ["production", {"key": "qa", "name": "QA", "critical": False}],
                        "filler_metrics": 3,
                        "metrics": [{"key": "sentry-errors", "event_key": "sentry-errors", "last_seen": "2h"}],
                    }
                ],
            },
            "sentry": {
                "organization": "o",
                "projects": [
                    {
                        "slug": "s",
                        "id": 7,
                        "environments": ["production"],
                        "events": [
                            {
                                "age": "1h",
                                "environment": "production",
                                "contexts": {"launchdarklyContext": {"kind": "user", "key": "u"}},
                            }
                        ],
                    }
                ],
            },
            "faults": {"seed": 3, "latency_ms": 5, "routes": [{"prefix": "/v2/event-data-import/", "dropped": 0.5}]},
        },
        source="tiny.toml",
    )
    assert from_toml == from_dict
    assert from_toml.faults == FaultPlan(
        seed=3,
        default=FaultRule(latency_ms=5),
        routes=(FaultRule(prefix="/v2/event-data-import/", latency_ms=5, dropped=0.5),),
    )
    assert from_toml.faults.rule_for("/v2/event-data-import/p/production").dropped == 0.5
    assert from_toml.faults.rule_for("/api/v2/projects").dropped == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"launchdarkly": {"tokens": [{"name": "x"}]}}, 'launchdarkly.tokens[0]: missing required key "value"'),
        ({"launchdarkly": {"projects": [{"key": "a"}, {"key": "a"}]}}, "duplicate project key 'a'"),
        (
            {"launchdarkly": {"projects": [{"key": "a", "metrics": [{"key": "m", "kind": "custom"}]}]}},
            'launchdarkly.projects[0].metrics[0]: a custom metric needs "event_key"',
        ),
        (
            {"launchdarkly": {"projects": [{"key": "a", "metrics": [{"key": "m", "kind": "banana"}]}]}},
            "launchdarkly.projects[0].metrics[0].kind: must be one of pageview, click, custom, trace (got 'banana')",
        ),
        (
            {
                "launchdarkly": {
                    "projects": [
                        {"key": "a", "filler_metrics": 2, "metrics": [{"key": "filler-metric-002", "event_key": "x"}]}
                    ]
                }
            },
            "duplicate metric key (filler metrics are named filler-metric-NNN) 'filler-metric-002'",
        ),
        ({"launchdarkly": {"projects": [{"key": "a", "evnironments": []}]}}, "unknown key 'evnironments'"),
        ({"sentry": {"projects": [{"slug": "s", "id": "7"}]}}, "sentry.projects[0].id: must be an integer, not str"),
        (
            {"sentry": {"projects": [{"slug": "s", "id": 7, "events": [{"age": "2 hours"}]}]}},
            "sentry.projects[0].events[0].age: invalid duration '2 hours'",
        ),
        (
            {"sentry": {"projects": [{"slug": "s", "id": 7, "events": [{"age": "1h", "environment": "prod"}]}]}},
            "environment 'prod' is not one of the project's environments",
        ),
        (
            {
                "sentry": {
                    "projects": [
                        {
                            "slug": "s",
                            "id": 7,
                            "environments": ["p"],
                            "events": [{"age": "1h", "contexts": {"launchdarklyContext": "user-1"}}],
                        }
                    ]
                }
            },
            "contexts.launchdarklyContext: must be a table: Sentry only stores object contexts",
        ),
        (
            {"sentry": {"projects": [{"slug": "s", "id": 7, "environments": ["has space"]}]}},
            "invalid Sentry environment",
        ),
        ({"faults": {"rate_limited": 0.7, "dropped": 0.5}}, "rate_limited + server_errors + dropped must not exceed 1"),
        ({"faults": {"dropped": 2}}, "faults.dropped: must be between 0 and 1.0 (got 2)"),
        ({"faults": {"routes": [{"dropped": 0.1}]}}, 'faults.routes[0]: missing required key "prefix"'),
        ({"launchdarkly": []}, "launchdarkly: must be a table, not an array"),
    ],
)
def test_invalid_scenarios_name_the_file_and_the_key(change: dict[str, Any], message: str) -> None:
    data = {"name": "bad", **change}
    with pytest.raises(ScenarioError) as raised:
        scenario_from_dict(data, source="bad.toml")
    assert str(raised.value).startswith("bad.toml: ")
    assert message in str(raised.value)


def test_toml_syntax_errors_and_missing_files_are_scenario_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"^broken\.toml: invalid TOML: .*line 1"):
        parse_scenario_text("name = \n", source="broken.toml")
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario(tmp_path / "nope.toml")


def test_build_app_accepts_a_path_a_dict_or_a_scenario(tmp_path: Path, unit_scenario: Scenario) -> None:
    file = tmp_path / "demo.toml"
    file.write_text(demo_scenario_path().read_text(encoding="utf-8"), encoding="utf-8")
    assert build_app(file).scenario.name == "demo"
    assert build_app(str(file)).scenario.source == str(file)
    assert build_app(scenario()).scenario.name == "unit"
    assert build_app(unit_scenario).scenario is unit_scenario


def test_a_large_generated_scenario_builds_quickly() -> None:
    """The benchmark's shape: 100 LaunchDarkly projects, 60 Sentry projects, built from a dict."""
    data = {
        "launchdarkly": {
            "tokens": [{"value": "t"}],
            "projects": [
                {"key": f"ld-{i}", "environments": ["production", "staging"], "filler_metrics": i % 7}
                for i in range(100)
            ],
        },
        "sentry": {
            "projects": [
                {
                    "slug": f"s-{i}",
                    "id": 1000 + i,
                    "environments": ["production"],
                    "events": [{"age": "1h", "environment": "production", "count": 5}],
                }
                for i in range(60)
            ]
        },
    }
    sandbox = build_app(data)
    assert len(sandbox.state.ld.projects) == 100
    assert len(sandbox.state.sentry.events) == 300


def test_reading_a_scenario_does_not_import_starlette_or_uvicorn() -> None:
    code = (
        "import sys\n"
        "from ld_sentry_cli.sandbox import load_demo_scenario\n"
        "load_demo_scenario()\n"
        "print(sorted(m for m in ('starlette', 'uvicorn') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
