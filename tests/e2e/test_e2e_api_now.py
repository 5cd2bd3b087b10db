"""End to end against the emulator: the fewest requests with the filters honoured, the same answer with them
ignored or refused and against older instances, and LaunchDarkly's newer metric fields graded."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from emulator_support import LD_TOKEN, SENTRY_TOKEN
from test_e2e import Run, ldsentry

from ld_sentry_cli.sandbox import build_app, serve_in_thread
from ld_sentry_cli.sandbox.app import Sandbox

EVENT = "sentry-errors"
GOOD = {"key": EVENT, "event_key": EVENT, "success_criteria": "LowerThanBaseline"}
EXTRA = [f"p-{n:02d}" for n in range(25)]  # enough projects for two pages of the `keys` filter


def scenario(**switches: Any) -> dict[str, Any]:
    """Every grading case at once; `switches` go into [launchdarkly] and [sentry] by prefix."""
    ld_projects: list[dict[str, Any]] = [
        {"key": "alpha", "environments": ["production", "staging"], "filler_metrics": 60, "metrics": [GOOD]},
        {
            "key": "beta",
            "environments": ["production"],
            "filler_metrics": 10,
            "metrics": [{**GOOD, "data_source": "snowflake-prod", "data_source_environment": "prod"}],
        },
        {"key": "gamma", "environments": ["production"], "metrics": [{**GOOD, "randomization_units": ["request"]}]},
        {
            "key": "delta",
            "environments": ["production"],
            "filler_metrics": 3,
            "metrics": [{"key": "traced", "kind": "trace", "event_key": EVENT}],
        },
        {
            "key": "epsilon",
            "environments": ["production"],
            "metrics": [{**GOOD, "unit_aggregation_type": "count_distinct"}],
        },
        *({"key": key, "environments": ["production"], "filler_metrics": 51, "metrics": [GOOD]} for key in EXTRA),
    ]
    sentry_projects = [
        {"slug": "web", "id": 1, "environments": ["production"], "hidden_environments": ["qa"]},
        {"slug": "api", "id": 2, "environments": ["production", "staging", *(f"e-{key}" for key in EXTRA)]},
        {"slug": "shared", "id": 3, "environments": ["production", "canary"]},
        {"slug": "other", "id": 4, "environments": ["production"], "hidden_environments": ["canary"]},
    ]
    return {
        "launchdarkly": {
            "tokens": [{"value": LD_TOKEN}],
            "projects": ld_projects,
            **{k.removeprefix("ld_"): v for k, v in switches.items() if k.startswith("ld_")},
        },
        "sentry": {
            "organization": "acme",
            "tokens": [{"value": SENTRY_TOKEN}],
            "projects": sentry_projects,
            **{k.removeprefix("sentry_"): v for k, v in switches.items() if k.startswith("sentry_")},
        },
    }


MAPPINGS = [
    ("web", "production", "alpha", "production"),  # green
    ("web", "qa", "alpha", "staging"),  # amber: hidden in web (web asked on its own)
    ("api", "staging", "beta", "production"),  # amber: warehouse data source
    ("api", "nope", "gamma", "production"),  # red: no such Sentry environment; amber: units
    ("shared", "canary", "delta", "production"),  # red: only a trace metric (shared: canary hidden elsewhere)
    ("ghost", "production", "ghost", "production"),  # red on both sides
    ("api", "production", "epsilon", "production"),  # amber: count_distinct
    *(("api", f"e-{key}", key, "production") for key in EXTRA),  # green
]


def config() -> str:
    lines = ['[sentry]\norganization = "acme"\n\n[metric]\nevent_key = "sentry-errors"\n']
    for sentry_project, sentry_environment, ld_project, ld_environment in MAPPINGS:
        lines.append(
            f'[[mapping]]\nsentry_project = "{sentry_project}"\nsentry_environment = "{sentry_environment}"\n'
            f'ld_project = "{ld_project}"\nld_environment = "{ld_environment}"\n'
        )
    return "\n".join(lines)


def status(tmp_path: Path, **switches: Any) -> tuple[Run, Counter[str], Sandbox]:
    (tmp_path / "ldsentry.toml").write_text(config(), encoding="utf-8")
    sandbox = build_app(scenario(**switches))
    with serve_in_thread(sandbox) as server:
        run = ldsentry(tmp_path, server.url, "status", "--output", "json")
    kinds: Counter[str] = Counter()
    for request in sandbox.requests():
        filtered = "filter=" in request.query
        kinds[f"{request.route}{' filtered' if filtered else ''}"] += 1
    return run, kinds, sandbox


def codes_by_mapping(run: Run) -> list[tuple[str, list[str]]]:
    document = run.json()
    return [(row["status"], sorted(p["code"] for p in row["problems"])) for row in document["mappings"]]  # type: ignore[union-attr,index]


EXPECTED_GRADES = [
    ("green", []),
    ("amber", ["sentry_environment_hidden"]),
    ("amber", ["metric_data_source"]),
    ("red", ["metric_units_unavailable", "sentry_environment_missing"]),
    ("red", ["metric_missing"]),
    ("red", ["ld_project_missing", "sentry_project_missing"]),
    ("amber", ["metric_kind_mismatch"]),
    *([("green", [])] * len(EXTRA)),
]
LD_PROJECTS = 30  # alpha..epsilon and p-00..p-24 (ghost does not exist)
WITH_A_METRIC = 29  # every existing project but delta, whose only metric is a trace metric


def test_both_filters_honoured_make_the_fewest_requests(tmp_path: Path) -> None:
    run, kinds, _ = status(tmp_path)

    assert run.code == 1, run.stderr
    assert codes_by_mapping(run) == EXPECTED_GRADES
    assert kinds == {
        # 31 keys in groups of 20: two filtered pages; the unfiltered list only for ghost's "did you mean".
        "/api/v2/projects filtered": 2,
        "/api/v2/projects": math.ceil(LD_PROJECTS / 20),
        # One metrics request per project (ghost's is a 404), whatever the number of metrics.
        "/api/v2/metrics/{projectKey} filtered": LD_PROJECTS + 1,
        "/api/v2/projects/{projectKey}/experimentation-settings": WITH_A_METRIC,
        # Sentry: its project list and hidden environments, then only web (qa hidden) and shared
        # (canary hidden in another project) on their own.
        "/api/0/organizations/{organization_id_or_slug}/projects/": 1,
        "/api/0/organizations/{organization_id_or_slug}/environments/": 1,
        "/api/0/projects/{organization_id_or_slug}/{project_id_or_slug}/environments/": 2,
    }


def full_paging_minimum() -> int:
    metrics = {"alpha": 61, "beta": 11, "gamma": 1, "delta": 4, "epsilon": 1, **dict.fromkeys(EXTRA, 52)}
    return sum(math.ceil(count / 50) for count in metrics.values()) + 1  # + ghost's 404


@pytest.mark.parametrize("behaviour", ["ignored", "rejected"])
def test_filters_ignored_or_refused_give_the_same_answer_with_the_full_paging_minimum(
    tmp_path: Path, behaviour: str
) -> None:
    run, kinds, _ = status(tmp_path, ld_project_keys_filter=behaviour, ld_event_keys_filter=behaviour)

    assert run.code == 1, run.stderr
    assert codes_by_mapping(run) == EXPECTED_GRADES
    metric_requests = kinds["/api/v2/metrics/{projectKey}"] + kinds["/api/v2/metrics/{projectKey} filtered"]
    if behaviour == "ignored":
        # An ignored filter's first page is a valid first page: no request is wasted.
        assert metric_requests == full_paging_minimum()
    else:
        assert kinds["/api/v2/metrics/{projectKey} filtered"] == 1  # refused once, then never sent again
        assert metric_requests == full_paging_minimum() + 1
    # The projects list: one filtered answer decides; then one request per project it did not already give.
    assert kinds["/api/v2/projects filtered"] == 1
    given = 20 if behaviour == "ignored" else 0  # an ignored filter's page holds 20 of the account's projects
    assert kinds["/api/v2/projects/{projectKey}"] == LD_PROJECTS + 1 - given


def test_older_instances_give_the_same_answer(tmp_path: Path) -> None:
    run, kinds, _ = status(tmp_path, ld_older_instance=True, sentry_older_instance=True)

    assert run.code == 1, run.stderr
    assert codes_by_mapping(run) == EXPECTED_GRADES
    # Project summaries without environments: every mapped Sentry project that exists is asked.
    assert kinds["/api/0/projects/{organization_id_or_slug}/{project_id_or_slug}/environments/"] == 3


def test_the_json_reports_are_identical_whichever_path(tmp_path: Path) -> None:
    honoured, _, _ = status(tmp_path)
    ignored, _, _ = status(tmp_path, ld_project_keys_filter="ignored", ld_event_keys_filter="ignored")
    older, _, _ = status(tmp_path, ld_older_instance=True, sentry_older_instance=True)
    assert honoured.stdout == ignored.stdout == older.stdout


# --- metric create: analysisUnits on an older instance, units checked before posting -----------------


def create_config(tmp_path: Path, units: str = "") -> None:
    (tmp_path / "ldsentry.toml").write_text(
        '[sentry]\norganization = "acme"\n\n[metric]\nevent_key = "sentry-errors"\n'
        f"{units}\n"
        '[[mapping]]\nsentry_project = "web"\nsentry_environment = "production"\n'
        'ld_project = "delta"\nld_environment = "production"\n',
        encoding="utf-8",
    )


def test_metric_create_on_an_older_instance_falls_back_to_randomization_units(tmp_path: Path) -> None:
    create_config(tmp_path)
    sandbox = build_app(scenario(ld_older_instance=True))
    with serve_in_thread(sandbox) as server:
        run = ldsentry(tmp_path, server.url, "--debug", "metric", "create", "--output", "json")
        after = ldsentry(tmp_path, server.url, "metric", "check", "--output", "json")

    assert run.code == 0, run.stderr
    assert [p["action"] for p in run.json()["projects"]] == ["created"]  # type: ignore[union-attr,index]
    posts = [r.status for r in sandbox.requests() if r.method == "POST"]
    assert posts == [400, 201]
    assert "LaunchDarkly refused analysisUnits" in run.stderr
    assert "retrying once with randomizationUnits" in run.stderr
    assert after.code == 0, after.stdout


def test_metric_create_refuses_units_the_project_does_not_offer(tmp_path: Path) -> None:
    create_config(tmp_path, 'units = ["request"]')
    sandbox = build_app(scenario())
    with serve_in_thread(sandbox) as server:
        run = ldsentry(tmp_path, server.url, "metric", "create")

    assert run.code == 2
    assert (
        "`[metric] units` names context kinds the metric cannot use: LaunchDarkly project 'delta' does not make "
        "'request' available for experiments (available: 'user')." in run.stderr
    )
    assert not [r for r in sandbox.requests() if r.method == "POST"]
