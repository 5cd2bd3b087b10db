"""Once page 1 gives `totalCount`, the remaining offset pages are fetched together, not one by one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ld_sentry_cli import launchdarkly
from ld_sentry_cli.http import ApiSession, SessionOptions


def paginate(handler: Callable[[httpx.Request], Awaitable[httpx.Response]]) -> list[Any]:
    """Page through /api/v2/metrics/p, 50 a page, against a mock server."""

    async def main() -> list[Any]:
        options = SessionOptions(transport=httpx.MockTransport(handler))
        session = ApiSession(
            "https://ld.example.test",
            conventions=launchdarkly.CONVENTIONS,
            auth_header="Authorization",
            auth_value="t",
            options=options,
        )
        try:
            return await launchdarkly.paginate(session, "/api/v2/metrics/p", page_size=50)
        finally:
            await session.aclose()

    return asyncio.run(main())


def test_pages_after_the_first_are_in_flight_together() -> None:
    in_flight: set[int] = set()
    both_started = asyncio.Event()
    seen: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        seen.append(offset)
        if offset:
            in_flight.add(offset)
            if in_flight == {50, 100}:
                both_started.set()
            # Sequential paging would wait here forever: page 100 is only asked for after page 50.
            await asyncio.wait_for(both_started.wait(), timeout=2)
        items = [{"key": f"m{n}"} for n in range(offset, min(offset + 50, 120))]
        return httpx.Response(200, json={"items": items, "totalCount": 120})

    items = paginate(handler)

    assert [item["key"] for item in items] == [f"m{n}" for n in range(120)]
    assert seen[0] == 0
    assert sorted(seen) == [0, 50, 100]


def test_a_server_capping_limit_is_paged_one_by_one() -> None:
    seen: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        seen.append(offset)
        items = [{"key": f"m{n}"} for n in range(offset, min(offset + 20, 45))]  # caps at 20
        return httpx.Response(200, json={"items": items, "totalCount": 45})

    items = paginate(handler)

    assert len(items) == 45
    assert seen == [0, 20, 40]
