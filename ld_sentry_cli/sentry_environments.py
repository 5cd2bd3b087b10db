"""Which Sentry environments the organization's lists settle, and which need the project's own list.

Pure: the gather step fetches, this decides (sentry-api.md §3). Two organization-wide requests (the
project list, which names each project's environments, and the environments hidden anywhere) settle
most mappings; only the rest cost one request per project.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from ld_sentry_cli.api_models import SentryEnvironment, SentryProject


def settled_environments(
    project: SentryProject, wanted: Iterable[str], hidden_anywhere: Collection[str] | None
) -> tuple[SentryEnvironment, ...] | None:
    """What the organization's two lists already say about a project's mapped environments; None: ask the project.

    The project list names a project's environments (sentry-api.md §3), and, as far as Sentry's
    serializer shows, leaves hidden ones out; `visibility=hidden` on the organization's environments
    names those hidden in any project. So an environment listed and hidden nowhere exists and is
    visible; one neither listed nor hidden anywhere does not exist. One hidden somewhere needs the
    project's own list, whether the summary leaves hidden ones out or not (unverified), and so does a
    project whose summary carries no environments (older self-hosted Sentry).
    """
    if project.environments is None or hidden_anywhere is None:
        return None
    if any(name in hidden_anywhere for name in wanted):
        return None
    return tuple(SentryEnvironment(name) for name in project.environments)
