"""Check a new mapping against the live APIs before it is written: every name must exist.

Unknown names get "did you mean" suggestions from the real project and environment lists, which
is what turns a typo into a one-second fix instead of a red row in tomorrow's nightly check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ld_sentry_cli.api_models import LdProject, SentryEnvironment, SentryProject
from ld_sentry_cli.models import ProjectMapping
from ld_sentry_cli.suggest import did_you_mean


class ProjectDirectory(Protocol):
    """The LaunchDarkly calls verification needs."""

    async def get_project(self, key: str) -> LdProject | None:
        """The project with its environments, or None."""

    async def list_projects(self) -> list[LdProject]:
        """Every project the token can see."""


class SentryDirectory(Protocol):
    """The Sentry calls verification needs."""

    async def list_projects(self) -> list[SentryProject]:
        """Every project of the organization."""

    async def list_environments(self, project_slug: str) -> list[SentryEnvironment] | None:
        """The project's environments, hidden ones included, or None."""


@dataclass(frozen=True)
class Verification:
    """What verification found: problems refuse the mapping, notes are for the user's information."""

    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


async def verify_launchdarkly(mapping: ProjectMapping, client: ProjectDirectory) -> Verification:
    """The LaunchDarkly project and environment must exist."""
    project = await client.get_project(mapping.ld_project)
    if project is None:
        known = [p.key for p in await client.list_projects()]
        hint = did_you_mean(mapping.ld_project, known)
        return Verification((f"LaunchDarkly project '{mapping.ld_project}' does not exist{hint}",))
    if mapping.ld_environment not in project.environment_keys:
        hint = did_you_mean(mapping.ld_environment, project.environment_keys)
        message = f"LaunchDarkly project '{mapping.ld_project}' has no environment '{mapping.ld_environment}'{hint}"
        return Verification((message,))
    return Verification()


async def verify_sentry(mapping: ProjectMapping, client: SentryDirectory) -> Verification:
    """The Sentry project and environment must exist; a hidden environment is allowed, with a note."""
    slugs = [p.slug for p in await client.list_projects()]
    if mapping.sentry_project not in slugs:
        hint = did_you_mean(mapping.sentry_project, slugs)
        return Verification((f"Sentry project '{mapping.sentry_project}' does not exist{hint}",))
    environments = await client.list_environments(mapping.sentry_project) or []
    found = next((env for env in environments if env.name == mapping.sentry_environment), None)
    if found is None:
        hint = did_you_mean(mapping.sentry_environment, [env.name for env in environments])
        message = (
            f"Sentry project '{mapping.sentry_project}' has no environment '{mapping.sentry_environment}'{hint}; "
            "Sentry creates an environment with its first event, so send one first if it is new"
        )
        return Verification((message,))
    if found.is_hidden:
        note = f"Sentry environment '{mapping.sentry_environment}' is hidden; unhide it in Sentry if it is in use"
        return Verification(notes=(note,))
    return Verification()
