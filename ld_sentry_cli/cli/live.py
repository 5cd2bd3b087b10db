"""Build the API clients a live command needs from the config and the environment."""

from __future__ import annotations

import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from ld_sentry_cli.launchdarkly import LaunchDarklyClient
    from ld_sentry_cli.models import Config
    from ld_sentry_cli.problems import Problem
    from ld_sentry_cli.sentry import SentryClient

T = TypeVar("T")

ConcurrencyOption = Annotated[
    int,
    typer.Option("--concurrency", min=1, max=64, help="Requests in flight at once, per service."),
]
DEFAULT_CONCURRENCY = 8


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion (commands are synchronous; the clients are async)."""
    import asyncio

    results: list[T] = []

    async def main() -> None:
        results.append(await coroutine)

    # The result leaves through `results`, not as the main task's result: on the way out
    # asyncio.run looks up the SIGINT handler, and CPython 3.11 formats repr() of that handler,
    # which includes the task and its result; for a report of thousands of dataclasses that
    # costs ~0.15 s.
    asyncio.run(main())
    return results[0]


def launchdarkly_client(config: Config, concurrency: int = DEFAULT_CONCURRENCY) -> LaunchDarklyClient:
    """A LaunchDarkly client: token from LD_ACCESS_TOKEN, base URL from LD_BASE_URI or the config."""
    from ld_sentry_cli.http import SessionOptions
    from ld_sentry_cli.launchdarkly import LaunchDarklyClient

    return LaunchDarklyClient.from_env(
        config_base_url=config.launchdarkly.base_url, options=SessionOptions(concurrency=concurrency)
    )


def sentry_client(
    config: Config, concurrency: int = DEFAULT_CONCURRENCY, event_rate: float | None = None
) -> SentryClient:
    """A Sentry client: token from SENTRY_AUTH_TOKEN, base URL and organization from env or config."""
    from ld_sentry_cli.http import SessionOptions
    from ld_sentry_cli.sentry import EVENT_DETAIL_RATE, SentryClient

    return SentryClient.from_env(
        config_base_url=config.sentry.base_url,
        config_organization=config.sentry.organization,
        options=SessionOptions(concurrency=concurrency),
        event_detail_rate=event_rate or EVENT_DETAIL_RATE,
    )


def optional_sentry_client(config: Config, concurrency: int, required: bool) -> tuple[SentryClient | None, str | None]:
    """A Sentry client, or None and the reason when no token is set and the Sentry half is optional."""
    if not required and not os.environ.get("SENTRY_AUTH_TOKEN", "").strip():
        return None, "SENTRY_AUTH_TOKEN is not set"
    return sentry_client(config, concurrency), None


def instance_note(base_url: str) -> Problem | None:
    """A note for LaunchDarkly instances where the hosted Sentry integration is not offered."""
    from ld_sentry_cli.launchdarkly import LdInstance, launchdarkly_instance
    from ld_sentry_cli.problems import problem

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
