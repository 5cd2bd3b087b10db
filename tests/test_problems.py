"""The problem-code registry: a fixed, documented set (codes are a JSON interface)."""

from __future__ import annotations

import re

import pytest

from ld_sentry_cli.problems import CODES, REGISTRY, Problem, Severity, problem

EXPECTED = {
    "ld_project_missing": Severity.RED,
    "ld_environment_missing": Severity.RED,
    "ld_metrics_unavailable": Severity.RED,
    "metric_missing": Severity.RED,
    "metric_numeric": Severity.RED,
    "metric_archived": Severity.RED,
    "metric_wrong_direction": Severity.AMBER,
    "metric_kind_mismatch": Severity.AMBER,
    "metric_data_source": Severity.AMBER,
    "metric_units_unavailable": Severity.AMBER,
    "integration_unavailable": Severity.NOTE,
    "sentry_project_missing": Severity.RED,
    "sentry_environment_missing": Severity.RED,
    "sentry_environment_hidden": Severity.AMBER,
    "sentry_unchecked": Severity.NOTE,
    "no_events": Severity.RED,
    "events_missing_context": Severity.AMBER,
    "events_misnamed_context": Severity.AMBER,
    "events_invalid_context": Severity.AMBER,
    "low_usable_share": Severity.RED,
    "tracking_webhook_missing": Severity.RED,
    "tracking_webhook_off": Severity.RED,
    "tracking_webhook_unsigned": Severity.AMBER,
    "tracking_partial_coverage": Severity.AMBER,
    "context_scrubbed": Severity.RED,
    "context_at_risk": Severity.AMBER,
    "scrubbing_unchecked": Severity.NOTE,
}


def test_registry_is_exactly_the_documented_set_with_default_severities() -> None:
    assert {entry.code: entry.severity for entry in REGISTRY} == EXPECTED


def test_codes_are_unique_snake_case_with_one_line_descriptions() -> None:
    assert len(CODES) == len(REGISTRY)
    for entry in REGISTRY:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", entry.code)
        assert entry.description.endswith(".")
        assert "\n" not in entry.description


def test_problem_takes_the_default_severity() -> None:
    assert problem("metric_missing", "Do this.") == Problem("metric_missing", Severity.RED, "Do this.")


def test_problem_severity_can_be_overridden() -> None:
    assert problem("sentry_unchecked", "m", Severity.RED).severity is Severity.RED


def test_unregistered_codes_are_refused() -> None:
    with pytest.raises(ValueError, match="unregistered problem code 'metric_gone'"):
        problem("metric_gone", "m")
    with pytest.raises(ValueError, match="unregistered problem code 'nope'"):
        Problem("nope", Severity.NOTE, "m")


def test_severity_values_are_stable_strings() -> None:
    assert [s.value for s in Severity] == ["red", "amber", "note"]
