"""From a webhook's Sentry project and environment to a LaunchDarkly destination.

The configuration names projects by slug. A webhook's `url` names the slug too (sentry-api.md §7),
so the relay routes from the payload alone and needs no Sentry token. Only a payload without a
usable url falls back to its numeric project id, through the organization's id → slug list from
`listOrganizationProjects` when a token is configured: loaded at start, refreshed when an unknown
id arrives (at most once per `min_refresh_interval`, so a flood of foreign ids cannot hammer
Sentry's API), and every `max_age` to notice renamed projects. Without a token such an event is
unmapped.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from ld_sentry_cli.api_models import SentryProject
from ld_sentry_cli.errors import LdsentryError
from ld_sentry_cli.models import ProjectMapping
from ld_sentry_cli.relay.model import Destination

logger = logging.getLogger("ldsentry.relay.routing")


class ProjectSource(Protocol):
    """The Sentry client method the resolver needs."""

    async def list_projects(self, refresh: bool = False) -> list[SentryProject]:
        """Every project of the organization, fetched again when refresh is true."""


class Lookup(str, enum.Enum):
    """What the resolver knows about a project id."""

    FOUND = "found"
    UNKNOWN = "unknown"  # not a project of the organization, as far as a fresh list says
    UNAVAILABLE = "unavailable"  # could not ask Sentry, and the id might be a mapped project


class ProjectResolver:
    """Numeric Sentry project id → slug, cached, refreshed on a miss (single flight); source None: no token."""

    def __init__(
        self,
        source: ProjectSource | None,
        mapped_slugs: Iterable[str],
        *,
        min_refresh_interval: float = 30.0,
        max_age: float = 600.0,
        lookup_timeout: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._mapped = frozenset(mapped_slugs)
        self._min_interval = min_refresh_interval
        self._max_age = max_age
        self._timeout = lookup_timeout
        self._monotonic = monotonic
        self._slugs: dict[str, str] = {}
        self._loaded_at: float | None = None  # last successful refresh
        self._tried_at: float | None = None  # last attempt, successful or not
        self._refreshing: asyncio.Task[bool] | None = None
        self._unasked: set[str] = set()  # ids already logged as unresolvable without a token
        self.failures = 0

    @property
    def loaded(self) -> bool:
        """True once a project list was fetched."""
        return self._loaded_at is not None

    def _all_mapped_known(self) -> bool:
        return self._mapped <= set(self._slugs.values())

    async def refresh(self) -> bool:
        """Fetch the project list now (joining a refresh already running); False if Sentry failed."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._fetch())
        return await asyncio.shield(self._refreshing)

    async def _fetch(self) -> bool:
        self._tried_at = self._monotonic()
        if self._source is None:
            return False
        try:
            projects = await self._source.list_projects(refresh=True)
        except LdsentryError as err:
            self.failures += 1
            logger.warning("could not list Sentry projects: %s", err.message)
            return False
        self._slugs = {project.id: project.slug for project in projects}
        self._loaded_at = self._monotonic()
        missing = sorted(self._mapped - set(self._slugs.values()))
        if missing:
            logger.warning("mapped Sentry projects not found in the organization: %s", ", ".join(missing))
        return True

    def _may_refresh(self) -> bool:
        return self._tried_at is None or self._monotonic() - self._tried_at >= self._min_interval

    async def maybe_refresh(self) -> None:
        """Refresh when the list is older than max_age (called from housekeeping)."""
        stale = self._loaded_at is None or self._monotonic() - self._loaded_at >= self._max_age
        if stale and self._source is not None and self._may_refresh():
            await self.refresh()

    async def lookup(self, project_id: str) -> tuple[Lookup, str | None]:
        """FOUND with the slug, UNKNOWN, or UNAVAILABLE (park the event and try again later)."""
        slug = self._slugs.get(project_id)
        if slug is not None:
            return Lookup.FOUND, slug
        if self._source is None:  # no token: nobody to ask
            if len(self._unasked) < 100 and project_id not in self._unasked:
                self._unasked.add(project_id)
                logger.warning(
                    "a webhook of Sentry project id %s has no event url, and without SENTRY_AUTH_TOKEN the relay "
                    "cannot look the id up: its events are not forwarded",
                    project_id,
                )
            return Lookup.UNKNOWN, None
        asked_at = self._monotonic()
        if self._may_refresh() or (self._refreshing is not None and not self._refreshing.done()):
            # Sentry waits at most 1 s for our answer (sentry-api.md §7): never wait on its API for long.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.refresh(), self._timeout)
            slug = self._slugs.get(project_id)
            if slug is not None:
                return Lookup.FOUND, slug
        fresh = self._loaded_at is not None and self._loaded_at >= asked_at
        if fresh or (self.loaded and self._all_mapped_known()):
            return Lookup.UNKNOWN, None
        return Lookup.UNAVAILABLE, None


@dataclass(frozen=True)
class Route:
    """Where an event goes: a destination, or the reason it goes nowhere, or parked (`unavailable`)."""

    destination: Destination | None = None
    reason: str | None = None
    unavailable: bool = False


NO_ENVIRONMENT = Route(reason="no_environment")
UNMAPPED = Route(reason="unmapped")
PARK = Route(unavailable=True)


class EventRouter:
    """Finds the mapping of (project id, environment) through the resolver."""

    def __init__(self, mappings: Iterable[ProjectMapping], resolver: ProjectResolver) -> None:
        self._by_pair = {m.sentry_pair: Destination(m.ld_project, m.ld_environment) for m in mappings}
        self._routes = {pair: Route(destination=destination) for pair, destination in self._by_pair.items()}
        self._environments = frozenset(environment for _, environment in self._by_pair)
        self.resolver = resolver

    def destination_for(self, slug: str, environment: str) -> Destination | None:
        """The mapped destination of a Sentry project slug and environment."""
        return self._by_pair.get((slug, environment))

    async def route(self, project_id: str, environment: str | None, slug: str | None = None) -> Route:
        """The destination of an event (by its url's slug when known, else its project id), or why it has none."""
        if environment is None:
            return NO_ENVIRONMENT
        if environment not in self._environments:
            return UNMAPPED  # no need to ask Sentry about the project
        if slug is not None:
            return self._routes.get((slug, environment), UNMAPPED)
        found, slug = await self.resolver.lookup(project_id)
        if found is Lookup.UNAVAILABLE:
            return PARK
        return self._routes.get((slug or "", environment), UNMAPPED)
