"""Fetch the facts `status` grades, with the fewest requests the APIs allow (docs/design.md "HTTP").

LaunchDarkly: every mapped project through the projects list's `keys` filter (a page per 20
projects), and per distinct project its metrics with the event key (one request where the
`eventKeys` filter is honoured), then its experimentation settings when it has a metric to grade.
Sentry: the organization's project list and its hidden environments, then `list_environments`
only for the projects those two cannot settle. Both halves run concurrently; the http layer bounds
how many requests are in flight. Whether a filter is honoured is learnt once per run (`LdReadChoices`).
A 404 on the projects list itself means the base URL is wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from .api_models import LdMetric, LdProject, SentryEnvironment, SentryProject
from .errors import ApiError, NotFoundError, PermissionDeniedError, ServiceError
from .filter_choice import FilterChoice, LdReadChoices
from .health import Facts, LdFacts, SentryFacts, grade_metrics
from .models import MetricSettings, ProjectMapping
from .sentry_environments import settled_environments
from .tasks import run_all

ProgressCallback = Callable[[int, int], None]
"""Called with (done, total) as work completes; total may shrink once skipped work is known."""


class LaunchDarklyReader(Protocol):
    """The LaunchDarkly client methods `status` needs."""

    async def get_projects(
        self, keys: Sequence[str], choice: FilterChoice | None = None
    ) -> dict[str, LdProject | None]:
        """The projects by key, None for those that do not exist."""

    async def list_projects(self) -> list[LdProject]:
        """Every project the token can see."""

    async def list_metrics(self, project_key: str) -> list[LdMetric]:
        """Every metric of the project; raises NotFoundError on 404."""

    async def list_event_metrics(
        self, project_key: str, event_key: str, choice: FilterChoice | None = None
    ) -> list[LdMetric]:
        """The project's metrics with the event key (or all of them); raises NotFoundError on 404."""

    async def experiment_units(self, project_key: str) -> tuple[str, ...] | None:
        """The context kinds available for experiments, or None on 404."""


class SentryReader(Protocol):
    """The Sentry client methods `status` needs."""

    async def list_projects(self) -> list[SentryProject]:
        """Every project of the organization, with the environment names the list carries."""

    async def hidden_environment_names(self) -> frozenset[str]:
        """Names of the environments hidden in any project of the organization."""

    async def list_environments(self, project_slug: str) -> list[SentryEnvironment] | None:
        """The project's environments, hidden ones included, or None on 404."""


class UnitsReader(Protocol):
    """A client that can read a project's experimentation settings."""

    async def experiment_units(self, project_key: str) -> tuple[str, ...] | None:
        """The context kinds available for experiments, or None on 404."""


async def readable_experiment_units(client: UnitsReader, project_key: str) -> tuple[str, ...] | None:
    """The context kinds available for experiments; None when the instance cannot say.

    A 404, a 403 (a project-scoped role) or another 4xx (an instance without experimentation settings)
    leaves the units unknown rather than failing the run; a 5xx or a network failure still fails it.
    """
    try:
        return await client.experiment_units(project_key)
    except (NotFoundError, PermissionDeniedError):
        return None
    except ApiError as error:
        if not 400 <= (error.status or 0) < 500:
            raise
        return None


class Counter:
    """Reports (done, total) to an optional progress callback."""

    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.done = 0
        self.total = total
        self._callback = callback
        self._report()

    def _report(self) -> None:
        if self._callback is not None:
            self._callback(self.done, self.total)

    def advance(self, count: int = 1) -> None:
        """Mark `count` units done."""
        self.done += count
        self._report()

    def drop(self, count: int) -> None:
        """Remove `count` units that turned out not to be needed."""
        self.total -= count
        self._report()


async def _project_metrics(
    client: LaunchDarklyReader, key: str, settings: MetricSettings | None, choices: LdReadChoices, counter: Counter
) -> tuple[tuple[LdMetric, ...], ServiceError | None, tuple[str, ...] | None]:
    """A project's metrics (or the error that stopped them) and, when it has a metric to grade, its units."""
    try:
        if settings is None:
            metrics = await client.list_metrics(key)
        else:
            metrics = await client.list_event_metrics(key, settings.event_key, choices.metrics)
    except (NotFoundError, PermissionDeniedError) as error:
        # A missing project 404s here too (its row says so); a project-scoped role may deny one
        # project's metrics, or the project may vanish in between: one red row, not a failed run.
        counter.advance()
        return (), error, None
    units = None
    if settings is not None and grade_metrics(metrics, settings).metric is not None:
        units = await readable_experiment_units(client, key)  # None: the units go ungraded
    counter.advance()
    return tuple(metrics), None, units


async def _ld_facts(
    client: LaunchDarklyReader,
    keys: Sequence[str],
    counter: Counter,
    suggest_projects: bool,
    settings: MetricSettings | None,
) -> tuple[dict[str, LdFacts], tuple[str, ...] | None]:
    choices = LdReadChoices()
    # Projects and metrics do not depend on each other, so both are asked at once: a missing
    # project then costs one ignored 404 on its metrics instead of a round trip before every project's metrics.
    projects_task = asyncio.ensure_future(client.get_projects(keys, choices.projects))
    metrics_task = asyncio.ensure_future(run_all(_project_metrics(client, k, settings, choices, counter) for k in keys))
    await run_all([projects_task, metrics_task])
    projects = projects_task.result()
    facts: dict[str, LdFacts] = {}
    for key, (metrics, error, units) in zip(keys, metrics_task.result(), strict=True):
        project = projects.get(key)
        if project is None:
            facts[key] = LdFacts(key, None)
        elif error is not None:
            facts[key] = LdFacts(key, project, (), error)
        else:
            facts[key] = LdFacts(key, project, metrics, experiment_units=units)
    known: tuple[str, ...] | None = None
    # The full project list costs a request, so it is fetched only to suggest a fix for a missing one.
    if suggest_projects and any(f.project is None for f in facts.values()):
        try:
            known = tuple(p.key for p in await client.list_projects())
        except NotFoundError:
            raise  # no project list at all: the client says the base URL looks wrong
        except ServiceError:
            known = None  # suggestions are a courtesy; the rows are red either way
    return facts, known


async def _hidden_names(client: SentryReader) -> frozenset[str] | None:
    """The organization's hidden environments, or None when this Sentry cannot say (each project is asked)."""
    try:
        return await client.hidden_environment_names()
    except (NotFoundError, PermissionDeniedError, ApiError):
        return None


async def _sentry_facts(client: SentryReader, mappings: Sequence[ProjectMapping], counter: Counter) -> SentryFacts:
    wanted: dict[str, set[str]] = {}
    for mapping in mappings:
        wanted.setdefault(mapping.sentry_project, set()).add(mapping.sentry_environment)
    # Independent of each other, so both at once: the run's Sentry chain stays two requests long at most.
    listed_task = asyncio.ensure_future(client.list_projects())
    hidden_task = asyncio.ensure_future(_hidden_names(client))
    await run_all([listed_task, hidden_task])
    projects = {p.slug: p for p in listed_task.result()}
    hidden = hidden_task.result()
    counter.advance()
    settled: dict[str, tuple[SentryEnvironment, ...]] = {}
    ask: list[str] = []
    for slug, names in wanted.items():
        project = projects.get(slug)
        if project is None:
            continue
        known = settled_environments(project, names, hidden)
        if known is None:
            ask.append(slug)
        else:
            settled[slug] = known
    counter.drop(len(wanted) - len(ask))

    async def environments(slug: str) -> tuple[str, list[SentryEnvironment] | None]:
        found = await client.list_environments(slug)
        counter.advance()
        return slug, found

    for slug, envs in await run_all(environments(slug) for slug in ask):
        if envs is not None:
            settled[slug] = tuple(envs)
    return SentryFacts(projects, {slug: settled[slug] for slug in wanted if slug in settled})


async def gather_ld_facts(
    project_keys: Sequence[str],
    launchdarkly: LaunchDarklyReader,
    *,
    progress: ProgressCallback | None = None,
    suggest_projects: bool = True,
    metric: MetricSettings | None = None,
) -> tuple[dict[str, LdFacts], tuple[str, ...] | None]:
    """The LaunchDarkly half alone (`metric check`): facts per distinct project, and known keys if fetched.

    With `metric`, only metrics that can carry its event key are read, and units are fetched for grading.
    """
    keys = list(dict.fromkeys(project_keys))
    return await _ld_facts(launchdarkly, keys, Counter(len(keys), progress), suggest_projects, metric)


async def gather_facts(
    mappings: Sequence[ProjectMapping],
    launchdarkly: LaunchDarklyReader,
    sentry: SentryReader | None,
    *,
    progress: ProgressCallback | None = None,
    suggest_projects: bool = True,
    sentry_unchecked_reason: str | None = None,
    metric: MetricSettings | None = None,
) -> Facts:
    """Fetch the facts for `mappings`; pass sentry=None to skip the Sentry half.

    With `metric`, only metrics that can carry its event key are read, and units are fetched for grading.
    """
    ld_keys = list(dict.fromkeys(m.ld_project for m in mappings))
    slugs = list(dict.fromkeys(m.sentry_project for m in mappings))
    # Units: one per LaunchDarkly project, one for Sentry's lists, one per Sentry project they leave open.
    counter = Counter(len(ld_keys) + (1 + len(slugs) if sentry is not None else 0), progress)
    ld_task = asyncio.ensure_future(_ld_facts(launchdarkly, ld_keys, counter, suggest_projects, metric))
    if sentry is None:
        ld, known = await ld_task
        return Facts(ld, SentryFacts(None, {}, sentry_unchecked_reason), known)
    sentry_task = asyncio.ensure_future(_sentry_facts(sentry, mappings, counter))
    await run_all([ld_task, sentry_task])
    ld, known = ld_task.result()
    return Facts(ld, sentry_task.result(), known)
