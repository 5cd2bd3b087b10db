"""Fetch the facts `check` grades, with one request per distinct resource (DESIGN.md, "HTTP rules").

LaunchDarkly: `get_project` and `list_metrics` per distinct project, and the project list only
when a project is missing (for suggestions; a 404 there too means the base URL is wrong).
Sentry: one `list_projects`, then `list_environments` per distinct existing project. Both halves
run concurrently; the http layer bounds how many requests are in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from .errors import NotFoundError, PermissionDeniedError, ServiceError
from .health import Facts, LdFacts, SentryFacts
from .models import LdMetric, LdProject, ProjectMapping, SentryEnvironment, SentryProject

T = TypeVar("T")

BASE_URL_HINT = (
    "Not even the list of projects is found there. Set LD_BASE_URI (or [launchdarkly] base_url) to the "
    "address before /api/v2, for example https://app.launchdarkly.com."
)

ProgressCallback = Callable[[int, int], None]
"""Called with (done, total) as work completes; total may shrink once skipped work is known."""


class LaunchDarklyReader(Protocol):
    """The LaunchDarkly client methods `check` needs."""

    async def get_project(self, key: str) -> LdProject | None:
        """The project, or None on 404."""

    async def list_projects(self) -> list[LdProject]:
        """Every project the token can see."""

    async def list_metrics(self, project_key: str) -> list[LdMetric]:
        """Every metric of the project; raises NotFoundError on 404."""


class SentryReader(Protocol):
    """The Sentry client methods `check` needs."""

    async def list_projects(self) -> list[SentryProject]:
        """Every project of the organization."""

    async def list_environments(self, project_slug: str) -> list[SentryEnvironment] | None:
        """The project's environments, hidden ones included, or None on 404."""


async def run_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Await all concurrently; on the first failure cancel the rest and re-raise it."""
    tasks = [asyncio.ensure_future(aw) for aw in awaitables]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        # asyncio.gather leaves the siblings running on error; stop them so no request outlives the run.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


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


async def _ld_project(client: LaunchDarklyReader, key: str, counter: Counter) -> LdFacts:
    # The project and its metrics do not depend on each other, so both are asked at once: a
    # missing project then costs one ignored 404 on its metrics instead of every project paying
    # a round trip before its metrics can start.
    project, metrics = await asyncio.gather(client.get_project(key), client.list_metrics(key), return_exceptions=True)
    counter.advance()
    if isinstance(project, BaseException):
        raise project
    if project is None:
        return LdFacts(key, None)
    # A project-scoped role may deny one project's metrics, or the project may vanish in between:
    # that is one red row, not a reason to abandon every other mapping.
    if isinstance(metrics, (NotFoundError, PermissionDeniedError)):
        return LdFacts(key, project, (), metrics)
    if isinstance(metrics, BaseException):
        raise metrics
    return LdFacts(key, project, tuple(metrics))


async def _ld_facts(
    client: LaunchDarklyReader, keys: Sequence[str], counter: Counter, suggest_projects: bool
) -> tuple[dict[str, LdFacts], tuple[str, ...] | None]:
    facts = await run_all(_ld_project(client, key, counter) for key in keys)
    known: tuple[str, ...] | None = None
    # The full project list costs a request, so it is fetched only to suggest a fix for a missing one.
    if suggest_projects and any(f.project is None for f in facts):
        try:
            known = tuple(p.key for p in await client.list_projects())
        except NotFoundError as error:
            # A missing project is a red row, but a missing project list means no project can be
            # found there at all: the base URL is wrong (a path prefix, say), as Sentry's side reports.
            raise NotFoundError(f"The LaunchDarkly base URL looks wrong: {error.message}", BASE_URL_HINT, 404) from None
        except ServiceError:
            known = None  # suggestions are a courtesy; the rows are red either way
    return {f.key: f for f in facts}, known


async def _sentry_facts(client: SentryReader, slugs: Sequence[str], counter: Counter) -> SentryFacts:
    projects = {p.slug: p for p in await client.list_projects()}
    counter.advance()
    existing = [slug for slug in slugs if slug in projects]
    counter.drop(len(slugs) - len(existing))

    async def environments(slug: str) -> tuple[str, list[SentryEnvironment] | None]:
        found = await client.list_environments(slug)
        counter.advance()
        return slug, found

    listed = await run_all(environments(slug) for slug in existing)
    return SentryFacts(projects, {slug: tuple(envs) for slug, envs in listed if envs is not None})


async def gather_ld_facts(
    project_keys: Sequence[str],
    launchdarkly: LaunchDarklyReader,
    *,
    progress: ProgressCallback | None = None,
    suggest_projects: bool = True,
) -> tuple[dict[str, LdFacts], tuple[str, ...] | None]:
    """The LaunchDarkly half alone (`metric check`): facts per distinct project, and known keys if fetched."""
    keys = list(dict.fromkeys(project_keys))
    return await _ld_facts(launchdarkly, keys, Counter(len(keys), progress), suggest_projects)


async def gather_facts(
    mappings: Sequence[ProjectMapping],
    launchdarkly: LaunchDarklyReader,
    sentry: SentryReader | None,
    *,
    progress: ProgressCallback | None = None,
    suggest_projects: bool = True,
    sentry_unchecked_reason: str | None = None,
) -> Facts:
    """Fetch the facts for `mappings`; pass sentry=None to skip the Sentry half."""
    ld_keys = list(dict.fromkeys(m.ld_project for m in mappings))
    slugs = list(dict.fromkeys(m.sentry_project for m in mappings))
    # Units: one per LaunchDarkly project, one for Sentry's project list, one per Sentry project.
    counter = Counter(len(ld_keys) + (1 + len(slugs) if sentry is not None else 0), progress)
    ld_task = asyncio.ensure_future(_ld_facts(launchdarkly, ld_keys, counter, suggest_projects))
    if sentry is None:
        ld, known = await ld_task
        return Facts(ld, SentryFacts(None, {}, sentry_unchecked_reason), known)
    sentry_task = asyncio.ensure_future(_sentry_facts(sentry, slugs, counter))
    await run_all([ld_task, sentry_task])
    ld, known = ld_task.result()
    return Facts(ld, sentry_task.result(), known)
