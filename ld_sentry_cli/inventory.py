"""What `mappings discover` reads: every Sentry project and LaunchDarkly project, each with its environments.

The fewest requests the APIs allow, sent concurrently:
- Sentry: the organization's project list (pages of 100), whose items name each project's visible
  environments, and one `environments/?visibility=hidden` request for the organization. Sentry's
  project list leaves hidden environments out and the organization's list does not say which project
  hides them (sentry-api.md §3), so only when the organization has hidden ones is a project's own
  `environments/?visibility=all` read, and only for projects that a LaunchDarkly project could match.
- LaunchDarkly: the project list with `expand=environments` (pages of 20), and a project's own
  environments only past the first page embedded in it (launchdarkly-api.md §2.1), as `get_project` does.

Each session counts its requests (`ApiSession.requests_sent`), so `--debug` can say how many were sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ld_sentry_cli import launchdarkly, sentry
from ld_sentry_cli.api_models import LdEnvironment, LdProject, SentryEnvironment, SentryProject
from ld_sentry_cli.discover import SentryProjectFacts
from ld_sentry_cli.errors import ApiError
from ld_sentry_cli.http import ApiSession


@dataclass(frozen=True)
class Inventory:
    """Both services' projects with their environments, and how many requests each took."""

    sentry_projects: tuple[SentryProjectFacts, ...]
    ld_projects: tuple[LdProject, ...]
    sentry_requests: int
    ld_requests: int


def _listed_environments(item: Any) -> tuple[str, ...]:
    names = item.get("environments") if isinstance(item, Mapping) else None
    return tuple(name for name in names if isinstance(name, str) and name) if isinstance(names, list) else ()


async def _hidden_names(session: ApiSession, org: str) -> set[str]:
    body = await session.get_json(f"/api/0/organizations/{org}/environments/", params={"visibility": "hidden"})
    if not isinstance(body, list):
        raise ApiError(f"{sentry.SERVICE} sent organization environments that are not a list.")
    return {item["name"] for item in body if isinstance(item, Mapping) and isinstance(item.get("name"), str)}


async def _project_environments(session: ApiSession, org: str, slug: str) -> tuple[SentryEnvironment, ...]:
    body = await session.get_json(
        f"/api/0/projects/{org}/{quote(slug, safe='')}/environments/", params={"visibility": "all"}
    )
    if not isinstance(body, list):
        raise ApiError(f"{sentry.SERVICE} sent environments that are not a list (project {slug!r}).")
    return tuple(sentry.parse_environment(item) for item in body)


async def _ld_projects(session: ApiSession) -> tuple[LdProject, ...]:
    items = await launchdarkly.paginate(
        session, "/api/v2/projects", page_size=launchdarkly.PAGE_LIMIT, params={"expand": "environments"}
    )

    async def project(item: Any) -> LdProject:
        payload = item if isinstance(item, Mapping) else {}
        embedded = payload.get("environments")
        listed: list[Any] = []
        total: int | None = None
        if isinstance(embedded, list):  # older API versions embed a plain list
            listed = embedded
        elif isinstance(embedded, Mapping):
            items, count = embedded.get("items"), embedded.get("totalCount")
            listed = items if isinstance(items, list) else []
            total = count if isinstance(count, int) else None
        key = payload.get("key")
        if total is not None and total > len(listed) and isinstance(key, str):
            listed = listed + await launchdarkly.paginate(
                session,
                f"/api/v2/projects/{quote(key, safe='')}/environments",
                page_size=launchdarkly.PAGE_LIMIT,
                start_offset=len(listed),
            )
        environments: dict[str, LdEnvironment] = {}
        for env in listed:
            parsed = launchdarkly.parse_environment(env)
            environments.setdefault(parsed.key, parsed)
        return launchdarkly.parse_project(item, tuple(environments.values()))

    return tuple(await asyncio.gather(*(project(item) for item in items)))


async def read_inventory(
    sentry_session: ApiSession,
    organization: str,
    ld_session: ApiSession,
    *,
    worth_resolving: Callable[[SentryProject, tuple[LdProject, ...], frozenset[str]], bool],
) -> Inventory:
    """Read both inventories; a project's hidden environments are read only when `worth_resolving` says so.

    `worth_resolving` gets the project, the LaunchDarkly projects and the organization's hidden names.
    """
    sent_before = sentry_session.requests_sent, ld_session.requests_sent
    org = quote(organization, safe="")
    items, hidden, ld_projects = await asyncio.gather(
        sentry.paginate(
            sentry_session, f"/api/0/organizations/{org}/projects/", params={"per_page": sentry.PER_PAGE_MAX}
        ),
        _hidden_names(sentry_session, org),
        _ld_projects(ld_session),
    )
    listed = [(sentry.parse_project(item), _listed_environments(item)) for item in items]

    async def facts(project: SentryProject, names: tuple[str, ...]) -> SentryProjectFacts:
        if hidden and worth_resolving(project, ld_projects, frozenset(hidden)):
            return SentryProjectFacts(project, await _project_environments(sentry_session, org, project.slug))
        # Sentry's list names visible environments only; a name hidden elsewhere in the org is still visible here.
        return SentryProjectFacts(project, tuple(SentryEnvironment(name) for name in names))

    sentry_projects = await asyncio.gather(*(facts(project, names) for project, names in listed))
    sentry_sent = sentry_session.requests_sent - sent_before[0]
    ld_sent = ld_session.requests_sent - sent_before[1]
    return Inventory(tuple(sentry_projects), ld_projects, sentry_sent, ld_sent)
