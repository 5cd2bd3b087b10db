"""The `metric create` workflow: give every LaunchDarkly project a usable metric, idempotently.

A POST is never retried blindly (docs/design.md "HTTP"): after a network error or a 5xx the
metric may exist already, so the project's metrics are listed again before a single retry.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .api_models import LdMetric, LdProject
from .errors import (
    AuthFailedError,
    NetworkError,
    ServiceConflictError,
    ServiceError,
    UsageError,
)
from .gather import Counter, ProgressCallback, readable_experiment_units
from .grades import Status
from .health import grade_metrics
from .models import MetricSettings
from .problems import Problem
from .tasks import run_all


class MetricStore(Protocol):
    """The LaunchDarkly client methods `metric create` needs."""

    async def get_project(self, key: str) -> LdProject | None:
        """The project, or None on 404."""

    async def list_metrics(self, project_key: str) -> list[LdMetric]:
        """Every metric of the project; raises NotFoundError on 404."""

    async def get_metric(self, project_key: str, metric_key: str) -> LdMetric | None:
        """One metric by its metric key, or None on 404."""

    async def create_metric(self, project_key: str, body: dict[str, Any]) -> LdMetric:
        """Create a metric; raises ServiceConflictError when the key exists."""

    async def experiment_units(self, project_key: str) -> tuple[str, ...] | None:
        """The context kinds available for experiments, or None on 404."""


class RepairAction(str, enum.Enum):
    """What `metric create` did (or would do) for one project."""

    CREATED = "created"
    PRESENT = "present"
    WOULD_CREATE = "would_create"
    CONFLICT = "conflict"
    SKIPPED_PROJECT_MISSING = "skipped_project_missing"
    FAILED = "failed"


@dataclass(frozen=True)
class RepairResult:
    """The outcome for one LaunchDarkly project."""

    project_key: str
    action: RepairAction
    message: str
    metric: LdMetric | None = None
    body: Mapping[str, Any] | None = None
    problems: tuple[Problem, ...] = ()  # amber findings on a present metric
    error: ServiceError | None = None


@dataclass(frozen=True)
class RepairReport:
    """The outcomes of one `metric create` run, in project order."""

    results: tuple[RepairResult, ...]

    @property
    def ok(self) -> bool:
        """True when every project has (or, in a dry run, would have) a usable metric."""
        done = {RepairAction.CREATED, RepairAction.PRESENT, RepairAction.WOULD_CREATE}
        return all(result.action in done for result in self.results)

    @property
    def failed(self) -> bool:
        """True when a service error stopped a project (the CLI exits 3)."""
        return any(result.action is RepairAction.FAILED for result in self.results)


def _usable(metric: LdMetric, settings: MetricSettings) -> bool:
    return grade_metrics([metric], settings).status is not Status.RED


def _describe(metric: LdMetric) -> str:
    traits = [f"kind '{metric.kind}'"]
    if metric.is_numeric:
        traits.append("numeric")
    if metric.archived:
        traits.append("archived")
    traits.append(f"event key '{metric.event_key}'" if metric.event_key else "no event key")
    return ", ".join(traits)


def _ambiguous(error: ServiceError) -> bool:
    # The request may have reached LaunchDarkly: a timeout or dropped connection, or a 5xx.
    return isinstance(error, NetworkError) or (error.status or 0) >= 500


class _Repair:
    """One project's workflow; keeps the shared arguments out of every signature."""

    def __init__(self, client: MetricStore, settings: MetricSettings, body: dict[str, Any], project_key: str) -> None:
        self.client = client
        self.settings = settings
        self.body = body
        self.project = project_key
        self.metric_key = str(body.get("key", settings.key))
        self.available_units: tuple[str, ...] | None = None

    def result(self, action: RepairAction, message: str, metric: LdMetric | None = None) -> RepairResult:
        return RepairResult(self.project, action, message, metric, self.body)

    def present(self, metric: LdMetric) -> RepairResult:
        verdict = grade_metrics([metric], self.settings)
        return RepairResult(
            self.project,
            RepairAction.PRESENT,
            f"Metric '{metric.key}' with event key '{self.settings.event_key}' is present in "
            f"LaunchDarkly project '{self.project}'; nothing to do.",
            metric,
            None,
            verdict.problems,
        )

    def conflict(self, metric: LdMetric | None) -> RepairResult:
        held_by = f" by a metric that cannot receive Sentry errors ({_describe(metric)})" if metric else ""
        return self.result(
            RepairAction.CONFLICT,
            f"Metric key '{self.metric_key}' is already taken in LaunchDarkly project "
            f"'{self.project}'{held_by}; set `[metric] key` to another key.",
            metric,
        )

    def created(self, metric: LdMetric) -> RepairResult:
        return self.result(
            RepairAction.CREATED,
            f"Created metric '{metric.key}' with event key '{self.settings.event_key}' in "
            f"LaunchDarkly project '{self.project}'.",
            metric,
        )

    def failed(self, error: ServiceError) -> RepairResult:
        return RepairResult(
            self.project,
            RepairAction.FAILED,
            f"Could not create metric '{self.metric_key}' in LaunchDarkly project '{self.project}': {error.message}",
            None,
            self.body,
            (),
            error,
        )

    async def plan(self, dry_run: bool) -> RepairResult | None:
        """What to do without writing anything: a final result, or None when the metric must be created.

        A project that needs the metric also has its experiment units read, for `check_units`.
        """
        if await self.client.get_project(self.project) is None:
            return self.result(
                RepairAction.SKIPPED_PROJECT_MISSING,
                f"LaunchDarkly project '{self.project}' does not exist; fix `ld_project` in the mappings first.",
            )
        metrics = await self.client.list_metrics(self.project)
        verdict = grade_metrics(metrics, self.settings)
        if verdict.metric is not None:
            return self.present(verdict.metric)
        # The listing already shows the key taken by an unusable metric: the POST would only clash.
        holder = next((m for m in metrics if m.key == self.metric_key), None)
        if holder is not None:
            return self.conflict(holder)
        # None (unknown): LaunchDarkly's own answer to the POST will say.
        self.available_units = await readable_experiment_units(self.client, self.project)
        if dry_run:
            return self.result(
                RepairAction.WOULD_CREATE,
                f"Would create metric '{self.metric_key}' with event key '{self.settings.event_key}' "
                f"in LaunchDarkly project '{self.project}'.",
            )
        return None

    def unavailable_units(self) -> list[str]:
        """The configured units this project does not make available for experiments (none when unknown)."""
        if self.available_units is None:
            return []
        return [unit for unit in self.settings.units if unit not in self.available_units]

    async def create(self, retry: bool) -> RepairResult:
        try:
            return self.created(await self.client.create_metric(self.project, self.body))
        except ServiceConflictError:
            return await self.after_conflict()
        except AuthFailedError:
            raise
        except ServiceError as error:
            if not (retry and _ambiguous(error)):
                return self.failed(error)
            return await self.after_ambiguous(error)

    async def after_conflict(self) -> RepairResult:
        # Someone (or an earlier run) created the key meanwhile: usable means there is nothing to do.
        existing = await self.client.get_metric(self.project, self.metric_key)
        if existing is not None and _usable(existing, self.settings):
            return self.present(existing)
        return self.conflict(existing)

    async def after_ambiguous(self, error: ServiceError) -> RepairResult:
        try:
            metrics = await self.client.list_metrics(self.project)
        except ServiceError:
            return self.failed(error)  # unknown state: retrying could create a duplicate
        existing = next((m for m in metrics if m.key == self.metric_key), None)
        if existing is None:
            return await self.create(retry=False)
        if _usable(existing, self.settings):
            return self.created(existing)
        return self.conflict(existing)


def check_units(repairs: Sequence[_Repair]) -> None:
    """Refuse to create metrics whose `[metric] units` a project does not offer (exit 2, before any POST)."""
    refused = [(repair.project, repair.unavailable_units(), repair.available_units) for repair in repairs]
    lines = [
        f"LaunchDarkly project '{project}' does not make {', '.join(repr(u) for u in missing)} available for "
        f"experiments (available: {', '.join(repr(u) for u in available or ()) or 'none'})"
        for project, missing, available in refused
        if missing
    ]
    if lines:
        raise UsageError(
            "`[metric] units` names context kinds the metric cannot use: " + "; ".join(lines) + ".",
            'Set `[metric] units` to kinds the projects offer, or mark the kind "Available for experiments" '
            "in each project's Contexts settings in LaunchDarkly.",
        )


async def repair_metrics(
    project_keys: Sequence[str],
    settings: MetricSettings,
    client: MetricStore,
    body: dict[str, Any],
    *,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> RepairReport:
    """Create the metric (`body`, from launchdarkly.metric_post_body) in each project lacking one.

    Every project is planned first (reads only), so that `[metric] units` a project does not offer
    stop the run with a usage error before anything is created.
    """
    keys = list(dict.fromkeys(project_keys))
    counter = Counter(len(keys), progress)
    repairs = [_Repair(client, settings, body, key) for key in keys]

    async def plan(repair: _Repair) -> RepairResult | None:
        try:
            result = await repair.plan(dry_run)
        except AuthFailedError:
            raise  # a rejected token fails every project alike: stop with exit 3
        except ServiceError as error:
            result = repair.failed(error)
        if result is not None:
            counter.advance()
        return result

    planned = await run_all(plan(repair) for repair in repairs)
    check_units([repair for repair, result in zip(repairs, planned, strict=True) if result is None or dry_run])

    async def create(repair: _Repair, result: RepairResult | None) -> RepairResult:
        if result is not None:
            return result
        try:
            result = await repair.create(retry=True)
        except AuthFailedError:
            raise
        except ServiceError as error:
            result = repair.failed(error)
        counter.advance()
        return result

    return RepairReport(tuple(await run_all(create(r, p) for r, p in zip(repairs, planned, strict=True))))
