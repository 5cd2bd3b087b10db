"""What `mappings discover` reads: every Sentry project and LaunchDarkly project, each with its environments.

The fewest requests the APIs allow, sent concurrently:
- Sentry: the organization's project list (pages of 100), whose items name each project's visible
  environments, and one `environments/?visibility=hidden` request for the organization. Sentry's
  project list leaves hidden environments out and the organization's list does not say which project
  hides them (sentry-api.md §3), so only when the organization has hidden ones is a project's own
  `environments/?visibility=all` read, and only for projects that a LaunchDarkly project could match.
- LaunchDarkly: the project list with `expand=environments` (pages of 20), and a project's own
  environments only past the first page embedded in it (launchdarkly-api.md §2.1), as `get_project` does.

Each client's session counts its requests (`ApiSession.requests_sent`), so `--debug` can say how many were sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from ld_sentry_cli.api_models import LdProject, SentryEnvironment, SentryProject
from ld_sentry_cli.discover import SentryProjectFacts
from ld_sentry_cli.launchdarkly import LaunchDarklyClient
from ld_sentry_cli.sentry import SentryClient
from ld_sentry_cli.tasks import run_all


@dataclass(frozen=True)
class Inventory:
    """Both services' projects with their environments, and how many requests each took."""

    sentry_projects: tuple[SentryProjectFacts, ...]
    ld_projects: tuple[LdProject, ...]
    sentry_requests: int
    ld_requests: int


async def read_inventory(
    sentry: SentryClient,
    launchdarkly: LaunchDarklyClient,
    *,
    worth_resolving: Callable[[SentryProject, tuple[LdProject, ...], frozenset[str]], bool],
) -> Inventory:
    """Read both inventories; a project's hidden environments are read only when `worth_resolving` says so.

    `worth_resolving` gets the project, the LaunchDarkly projects and the organization's hidden names.
    """
    sent_before = sentry.session.requests_sent, launchdarkly.session.requests_sent
    listed_task = asyncio.ensure_future(sentry.list_projects())
    hidden_task = asyncio.ensure_future(sentry.hidden_environment_names())
    ld_task = asyncio.ensure_future(launchdarkly.list_projects_with_environments())
    await run_all([listed_task, hidden_task, ld_task])
    hidden, ld_projects = hidden_task.result(), tuple(ld_task.result())

    async def facts(project: SentryProject) -> SentryProjectFacts:
        # Sentry's list names visible environments only; a name hidden elsewhere in the org is still visible here.
        names = tuple(name for name in project.environments or () if name)
        if hidden and worth_resolving(project, ld_projects, hidden):
            environments = await sentry.list_environments(project.slug)
            if environments is not None:  # None: deleted since it was listed; what the list said stands
                return SentryProjectFacts(project, tuple(environments))
        return SentryProjectFacts(project, tuple(SentryEnvironment(name) for name in names))

    sentry_projects = await run_all(facts(project) for project in listed_task.result())
    sentry_sent = sentry.session.requests_sent - sent_before[0]
    ld_sent = launchdarkly.session.requests_sent - sent_before[1]
    return Inventory(tuple(sentry_projects), ld_projects, sentry_sent, ld_sent)
