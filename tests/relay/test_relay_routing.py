"""Sentry project id → slug (cached, refreshed on a miss) and the mapping lookup."""

from __future__ import annotations

import asyncio

from relay_helpers import API_ID, MAPPINGS, PROJECTS, WEB_ID, FakeProjects
from support import FakeTime

from ld_sentry_cli.api_models import SentryProject
from ld_sentry_cli.relay.model import Destination
from ld_sentry_cli.relay.routing import NO_ENVIRONMENT, PARK, UNMAPPED, EventRouter, Lookup, ProjectResolver, Route


def resolver(source: FakeProjects, clock: FakeTime | None = None, **kwargs: float) -> ProjectResolver:
    return ProjectResolver(source, ["web-frontend", "checkout-api"], monotonic=(clock or FakeTime()).clock, **kwargs)


def test_the_list_is_fetched_once_then_served_from_the_cache() -> None:
    source = FakeProjects()
    projects = resolver(source)

    async def run() -> list[tuple[Lookup, str | None]]:
        return [
            await projects.lookup(str(WEB_ID)),
            await projects.lookup(str(API_ID)),
            await projects.lookup(str(WEB_ID)),
        ]

    assert asyncio.run(run()) == [
        (Lookup.FOUND, "web-frontend"),
        (Lookup.FOUND, "checkout-api"),
        (Lookup.FOUND, "web-frontend"),
    ]
    assert source.calls == 1


def test_a_miss_refreshes_and_finds_a_new_project() -> None:
    source = FakeProjects([PROJECTS[0]])
    clock = FakeTime()
    projects = resolver(source, clock)

    async def run() -> tuple[Lookup, str | None]:
        await projects.refresh()
        source.projects = list(PROJECTS)  # checkout-api created in Sentry after the relay started
        clock.now += 31
        return await projects.lookup(str(API_ID))

    assert asyncio.run(run()) == (Lookup.FOUND, "checkout-api")
    assert source.calls == 2


def test_misses_refresh_at_most_once_per_interval() -> None:
    source = FakeProjects()
    clock = FakeTime()
    projects = resolver(source, clock, min_refresh_interval=30.0)

    async def run() -> list[tuple[Lookup, str | None]]:
        await projects.refresh()
        found = [await projects.lookup("999") for _ in range(5)]  # a foreign project: no refresh storm
        clock.now += 30
        found.append(await projects.lookup("999"))
        return found

    assert asyncio.run(run()) == [(Lookup.UNKNOWN, None)] * 6
    assert source.calls == 2


def test_concurrent_misses_share_one_refresh() -> None:
    source = FakeProjects(delay=0.05)
    projects = resolver(source)

    async def run() -> list[tuple[Lookup, str | None]]:
        return list(await asyncio.gather(*(projects.lookup(str(WEB_ID)) for _ in range(20))))

    assert asyncio.run(run()) == [(Lookup.FOUND, "web-frontend")] * 20
    assert source.calls == 1


def test_sentry_down_parks_ids_that_might_be_mapped() -> None:
    source = FakeProjects(fail=True)
    projects = resolver(source)
    assert asyncio.run(projects.lookup(str(WEB_ID))) == (Lookup.UNAVAILABLE, None)
    assert projects.failures == 1 and not projects.loaded


def test_a_slow_sentry_does_not_hold_the_answer_beyond_the_lookup_timeout() -> None:
    source = FakeProjects(delay=0.5)
    projects = resolver(source, lookup_timeout=0.05)

    async def run() -> tuple[tuple[Lookup, str | None], tuple[Lookup, str | None]]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = await projects.lookup(str(WEB_ID))
        assert loop.time() - started < 0.3
        await asyncio.sleep(0.6)  # the refresh carried on in the background
        return first, await projects.lookup(str(WEB_ID))

    assert asyncio.run(run()) == ((Lookup.UNAVAILABLE, None), (Lookup.FOUND, "web-frontend"))


def test_unknown_ids_are_unknown_once_every_mapped_project_is_known() -> None:
    source = FakeProjects()
    clock = FakeTime()
    projects = resolver(source, clock)

    async def run() -> tuple[Lookup, str | None]:
        await projects.refresh()
        source.fail = True  # even with Sentry down now, 999 cannot be a mapped project
        return await projects.lookup("999")

    assert asyncio.run(run()) == (Lookup.UNKNOWN, None)


def test_a_mapped_project_missing_from_sentry_does_not_park_forever() -> None:
    source = FakeProjects([SentryProject(str(WEB_ID), "web-frontend")])  # checkout-api does not exist
    projects = resolver(source)
    assert asyncio.run(projects.lookup("999")) == (Lookup.UNKNOWN, None)  # a fresh list says no


def router(source: FakeProjects | None = None) -> EventRouter:
    return EventRouter(MAPPINGS, resolver(source or FakeProjects()))


def test_mapped_events_route_to_their_destination() -> None:
    route = asyncio.run(router().route(str(WEB_ID), "staging"))
    assert route == Route(destination=Destination("default", "staging"))
    assert asyncio.run(router().route(str(API_ID), "production")) == Route(
        destination=Destination("checkout", "production")
    )


def test_unmapped_environments_and_projects() -> None:
    assert asyncio.run(router().route(str(API_ID), "staging")) is UNMAPPED  # checkout-api/staging is not mapped
    assert asyncio.run(router().route("999", "production")) is UNMAPPED
    assert asyncio.run(router().route(str(WEB_ID), None)) is NO_ENVIRONMENT


def test_an_environment_no_mapping_uses_is_unmapped_without_asking_sentry() -> None:
    source = FakeProjects()
    assert asyncio.run(router(source).route(str(WEB_ID), "qa")) is UNMAPPED
    assert source.calls == 0


def test_environment_names_are_case_sensitive() -> None:
    assert asyncio.run(router().route(str(WEB_ID), "Production")) is UNMAPPED


def test_sentry_down_parks_the_event() -> None:
    assert asyncio.run(router(FakeProjects(fail=True)).route(str(WEB_ID), "production")) is PARK
