"""Await many coroutines together, and stop the others when one fails (shared by the clients and the domain)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def run_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Await all concurrently; on the first failure cancel the rest and re-raise it."""
    tasks = [asyncio.ensure_future(aw) for aw in awaitables]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        # asyncio.gather leaves the siblings running on error; stop them so no request outlives the run.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
