"""`mappings discover`'s inventory, read through the two clients (respx; no network)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import respx

from ld_sentry_cli.api_models import LdProject, SentryEnvironment, SentryProject
from ld_sentry_cli.http import RetryPolicy, SessionOptions
from ld_sentry_cli.inventory import Inventory, read_inventory
from ld_sentry_cli.launchdarkly import LaunchDarklyClient
from ld_sentry_cli.sentry import SentryClient

LD = "https://app.launchdarkly.com"
SENTRY = "https://sentry.io"
OPTIONS = SessionOptions(retry=RetryPolicy(max_attempts=1))


def read(worth_resolving: bool = True) -> Inventory:
    def decide(project: SentryProject, ld_projects: tuple[LdProject, ...], hidden: frozenset[str]) -> bool:
        return worth_resolving

    async def go() -> Inventory:
        async with (
            LaunchDarklyClient("api-token", base_url=LD, options=OPTIONS) as ld,
            SentryClient("sntryu_token", "acme", base_url=SENTRY, options=OPTIONS, event_detail_rate=None) as sentry,
        ):
            return await read_inventory(sentry, ld, worth_resolving=decide)

    return asyncio.run(go())


def environments(start: int, stop: int) -> list[dict[str, Any]]:
    return [{"key": f"env-{n}", "name": f"Env {n}"} for n in range(start, stop)]


def sentry_lists(mock: respx.MockRouter, hidden: list[str]) -> None:
    project = {"id": "1", "slug": "mobile", "name": "Mobile", "environments": ["production", ""]}
    mock.get(f"{SENTRY}/api/0/organizations/acme/projects/").respond(json=[project])
    mock.get(f"{SENTRY}/api/0/organizations/acme/environments/").respond(json=[{"name": name} for name in hidden])


@respx.mock
def test_a_project_with_more_environments_than_the_list_embeds_is_completed() -> None:
    sentry_lists(respx.mock, hidden=[])
    embedded = {"items": environments(0, 20), "totalCount": 21}
    respx.get(f"{LD}/api/v2/projects").respond(
        json={"items": [{"key": "mobile", "name": "Mobile", "environments": embedded}], "totalCount": 1}
    )
    rest = respx.get(f"{LD}/api/v2/projects/mobile/environments").respond(
        json={"items": environments(20, 21), "totalCount": 21}
    )

    inventory = read()

    assert rest.calls.last.request.url.params["offset"] == "20"
    assert [env.key for env in inventory.ld_projects[0].environments] == [f"env-{n}" for n in range(21)]
    # Empty names in Sentry's list are never proposed; the organization has nothing hidden, so nothing more is read.
    assert inventory.sentry_projects[0].environments == (SentryEnvironment("production"),)
    assert (inventory.sentry_requests, inventory.ld_requests) == (2, 2)


@respx.mock
def test_a_project_gone_before_its_environments_are_read_keeps_what_the_list_said() -> None:
    sentry_lists(respx.mock, hidden=["testing"])
    respx.get(f"{LD}/api/v2/projects").respond(json={"items": [], "totalCount": 0})
    gone = respx.get(f"{SENTRY}/api/0/projects/acme/mobile/environments/").mock(
        return_value=httpx.Response(404, json={"detail": "The requested resource does not exist"})
    )

    inventory = read()

    assert gone.called
    assert inventory.sentry_projects[0].environments == (SentryEnvironment("production"),)
    assert (inventory.sentry_requests, inventory.ld_requests) == (3, 1)
