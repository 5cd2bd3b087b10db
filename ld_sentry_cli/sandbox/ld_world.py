"""The LaunchDarkly account as the sandbox holds it: projects, environments and (mutable) metrics.

Built from a scenario at a given "now"; POST /api/v2/metrics adds to it, a reset rebuilds it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ld_sentry_cli.sandbox.durations import epoch_ms
from ld_sentry_cli.sandbox.ids import hex_id, uuid_from
from ld_sentry_cli.sandbox.scenario import (
    HOSTED_DATA_SOURCE,
    LaunchDarklyScenario,
    LdMetricSpec,
    LdProjectSpec,
    LdToken,
)

_HOUR_MS = 3_600_000


@dataclass(frozen=True)
class LdEnvironmentState:
    """An environment with its generated ids and (fake) SDK and mobile keys."""

    key: str
    name: str
    id: str
    api_key: str
    mobile_key: str
    color: str
    critical: bool
    tags: tuple[str, ...]


@dataclass
class MetricRecord:
    """A metric as stored; `ld_payloads.metric_rep` turns it into a MetricRep."""

    key: str
    name: str
    kind: str
    id: str
    version_id: str
    created_ms: int
    event_key: str | None = None
    is_numeric: bool | None = None
    success_criteria: str | None = None
    unit_aggregation_type: str | None = None
    randomization_units: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str | None = None
    unit: str | None = None
    archived: bool = False
    archived_at_ms: int | None = None
    last_seen_ms: int | None = None
    maintainer_id: str | None = None
    selector: str | None = None
    urls: tuple[dict[str, str], ...] = ()
    version: int = 1
    data_source: str = HOSTED_DATA_SOURCE
    data_source_environment: str | None = None


@dataclass
class LdProjectState:
    """A project, its environments in order, and its metrics in listing order."""

    key: str
    name: str
    id: str
    tags: tuple[str, ...]
    created_ms: int
    environments: list[LdEnvironmentState]
    metrics: dict[str, MetricRecord] = field(default_factory=dict)
    experiment_units: tuple[str, ...] = ("user",)
    older_instance: bool = False  # metrics served without `analysisUnits` (ld_payloads.metric_rep)
    # MetricRep JSON by (id, version, archived), filled by ld_payloads.metric_json.
    metric_json_cache: dict[tuple[str, int, bool], bytes] = field(default_factory=dict, repr=False, compare=False)

    def environment(self, key: str) -> LdEnvironmentState | None:
        """The environment with this key, if any."""
        return next((env for env in self.environments if env.key == key), None)


class LdWorld:
    """Everything LaunchDarkly knows in this sandbox; metric writes go through `add_metric`."""

    def __init__(self, scenario: LaunchDarklyScenario, now: datetime) -> None:
        self.account_id = scenario.account_id
        self.now = now
        self.tokens: dict[str, LdToken] = {token.value: token for token in scenario.tokens}
        self.projects: dict[str, LdProjectState] = {}
        self.project_keys_filter = scenario.project_keys_filter
        self.event_keys_filter = scenario.event_keys_filter
        self._lock = threading.Lock()
        for index, spec in enumerate(scenario.projects):
            self.projects[spec.key] = _project_state(spec, now, index, older_instance=scenario.older_instance)

    def project(self, key: str) -> LdProjectState | None:
        """The project with this key, if any."""
        return self.projects.get(key)

    def add_metric(self, project: LdProjectState, record: MetricRecord) -> bool:
        """Store a new metric; False when its key is taken (archived metrics keep their keys)."""
        with self._lock:
            if record.key in project.metrics:
                return False
            project.metrics[record.key] = record
            return True


def _project_state(spec: LdProjectSpec, now: datetime, index: int, *, older_instance: bool) -> LdProjectState:
    created = now - timedelta(days=700 - index)
    environments = [
        LdEnvironmentState(
            key=env.key,
            name=env.name,
            id=hex_id("ld-environment", spec.key, env.key),
            # Fake but realistic keys: the client must drop them (docs/design.md "Secrets").
            api_key="sdk-" + uuid_from("ld-sdk-key", spec.key, env.key),
            mobile_key="mob-" + uuid_from("ld-mobile-key", spec.key, env.key),
            color=env.color,
            critical=env.critical,
            tags=env.tags,
        )
        for env in spec.environments
    ]
    project = LdProjectState(
        key=spec.key,
        name=spec.name,
        id=hex_id("ld-project", spec.key),
        tags=spec.tags,
        created_ms=epoch_ms(created),
        environments=environments,
        experiment_units=spec.experiment_units,
        older_instance=older_instance,
    )
    first_metric = now - timedelta(days=365)
    seeded = [filler_metric(i) for i in range(spec.filler_metrics)] + list(spec.metrics)
    for position, metric_spec in enumerate(seeded):
        record = _record(spec.key, metric_spec, epoch_ms(first_metric + timedelta(hours=position)), now)
        project.metrics[record.key] = record
    return project


def _record(project_key: str, spec: LdMetricSpec, created_ms: int, now: datetime) -> MetricRecord:
    last_seen = None
    if spec.last_seen is not None:
        seen_ms = epoch_ms(now - spec.last_seen)
        last_seen = seen_ms - seen_ms % _HOUR_MS  # "one-hour fidelity" (launchdarkly-api.md §1.4)
    return MetricRecord(
        key=spec.key,
        name=spec.name,
        kind=spec.kind,
        id=hex_id("ld-metric", project_key, spec.key),
        version_id=uuid_from("ld-metric-version", project_key, spec.key),
        created_ms=created_ms,
        event_key=spec.event_key,
        is_numeric=spec.is_numeric if spec.kind == "custom" else None,
        data_source=spec.data_source,
        data_source_environment=spec.data_source_environment,
        success_criteria=spec.success_criteria,
        unit_aggregation_type=spec.unit_aggregation_type,
        randomization_units=spec.randomization_units,
        tags=spec.tags,
        description=spec.description,
        unit=spec.unit,
        archived=spec.archived,
        archived_at_ms=epoch_ms(now - timedelta(days=30)) if spec.archived else None,
        last_seen_ms=last_seen,
        selector=".checkout-button" if spec.kind == "click" else None,
        urls=({"kind": "substring", "substring": "/checkout"},) if spec.kind in ("click", "pageview") else (),
    )


def filler_metric(index: int) -> LdMetricSpec:
    """The index-th filler metric: a rotating mix of kinds, none matching a Sentry event key."""
    number = index + 1
    key = f"filler-metric-{number:03d}"
    name = f"Filler metric {number}"
    variant = index % 5
    if variant == 0:
        return LdMetricSpec(key=key, name=name, kind="pageview", unit_aggregation_type=None)
    if variant == 1:
        return LdMetricSpec(key=key, name=name, kind="click", unit_aggregation_type=None)
    if variant == 2:
        return LdMetricSpec(
            key=key,
            name=name,
            event_key=f"latency-{number:03d}",
            is_numeric=True,
            success_criteria="LowerThanBaseline",
            unit="ms",
        )
    if variant == 3:
        return LdMetricSpec(key=key, name=name, event_key=f"signup-{number:03d}", tags=("growth",))
    return LdMetricSpec(key=key, name=name, event_key=f"page-error-{number:03d}", unit_aggregation_type="sum")
