"""The life of a live command's API clients: built from the config and the environment, closed when the work ends."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

import typer

from ld_sentry_cli.cli.progress import progress_bar
from ld_sentry_cli.http import SessionOptions
from ld_sentry_cli.launchdarkly import LaunchDarklyClient, LdInstance, launchdarkly_instance
from ld_sentry_cli.problems import problem
from ld_sentry_cli.sentry import EVENT_DETAIL_RATE, SentryClient
from ld_sentry_cli.sentry import TOKEN_ENV_VAR as SENTRY_TOKEN_ENV_VAR

if TYPE_CHECKING:
    from ld_sentry_cli.gather import ProgressCallback
    from ld_sentry_cli.models import Config
    from ld_sentry_cli.problems import Problem


ConcurrencyOption = Annotated[
    int,
    typer.Option("--concurrency", min=1, max=64, help="Requests in flight at once, per service."),
]
DEFAULT_CONCURRENCY = 8


def session_options(concurrency: int) -> SessionOptions:
    """The HTTP session settings of every client a command builds (the one place tests swap the retry waits)."""
    return SessionOptions(concurrency=concurrency)


def launchdarkly_client(config: Config, concurrency: int = DEFAULT_CONCURRENCY) -> LaunchDarklyClient:
    """A LaunchDarkly client: token from LD_ACCESS_TOKEN, base URL from LD_BASE_URI or the config."""
    return LaunchDarklyClient.from_env(
        config_base_url=config.launchdarkly.base_url, options=session_options(concurrency)
    )


def sentry_client(
    config: Config, concurrency: int = DEFAULT_CONCURRENCY, event_rate: float | None = None
) -> SentryClient:
    """A Sentry client: token from SENTRY_AUTH_TOKEN, base URL and organization from env or config."""
    return SentryClient.from_env(
        config_base_url=config.sentry.base_url,
        config_organization=config.sentry.organization,
        options=session_options(concurrency),
        event_detail_rate=event_rate or EVENT_DETAIL_RATE,
    )


def sentry_token_set() -> bool:
    """Whether SENTRY_AUTH_TOKEN holds anything, for commands where the Sentry half is optional."""
    return bool(os.environ.get(SENTRY_TOKEN_ENV_VAR, "").strip())


class Clients:
    """The clients one live command opens as it asks for them, and the progress callback of its work."""

    def __init__(self, config: Config, concurrency: int, closers: contextlib.AsyncExitStack) -> None:
        self._config = config
        self._concurrency = concurrency
        self._closers = closers
        self.progress: ProgressCallback | None = None

    def launchdarkly(self) -> LaunchDarklyClient:
        """Open a LaunchDarkly client (see `launchdarkly_client`); the session closes it."""
        client = launchdarkly_client(self._config, self._concurrency)
        self._closers.push_async_callback(client.aclose)
        return client

    def sentry(self, event_rate: float | None = None) -> SentryClient:
        """Open a Sentry client (see `sentry_client`); the session closes it."""
        client = sentry_client(self._config, self._concurrency, event_rate)
        self._closers.push_async_callback(client.aclose)
        return client

    def optional_sentry(self, required: bool) -> tuple[SentryClient | None, str | None]:
        """A Sentry client, or None and the reason when no token is set and the Sentry half is optional."""
        if not required and not sentry_token_set():
            return None, "SENTRY_AUTH_TOKEN is not set"
        return self.sentry(), None


@contextlib.asynccontextmanager
async def session(
    config: Config, concurrency: int = DEFAULT_CONCURRENCY, *, progress: str | None = None
) -> AsyncIterator[Clients]:
    """Give a command its clients (opened on request) and a progress bar; close every client opened, even on error."""
    async with contextlib.AsyncExitStack() as closers:
        clients = Clients(config, concurrency, closers)
        # The bar goes before the clients close, as it always did: closing is not work the user waits for.
        with progress_bar(progress) if progress else contextlib.nullcontext() as update:
            clients.progress = update
            yield clients


def instance_note(base_url: str) -> Problem | None:
    """A note for LaunchDarkly instances where the hosted Sentry integration is not offered."""
    instance = launchdarkly_instance(base_url)
    if instance not in (LdInstance.EU, LdInstance.FEDERAL):
        return None
    name = "EU" if instance is LdInstance.EU else "federal"
    return problem(
        "integration_unavailable",
        f"LaunchDarkly's hosted Sentry integration is not offered on the {name} instance ({base_url}); "
        "the metric still works, but forward the errors another way: run `ldsentry relay serve`, or call "
        "the SDK's track() from Sentry's before_send hook.",
    )
