"""Sentry cursor pagination: the cursor format and the `Link` header (Sentry notes §5).

Sentry has two paginators: `OffsetPaginator` (lists of model objects such as projects), whose
cursor is `<per_page>:<page>:<is_prev>`, and `GenericOffsetPaginator` (event queries), whose
cursor is `0:<offset>:<is_prev>`. Both always send `rel="previous"` and `rel="next"`, each with
`results="true|false"`; clients follow `next` only while `results="true"`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, urlencode

T = TypeVar("T")

MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Cursor:
    """A Sentry cursor; `has_results` is what the Link header reports for it."""

    value: int
    offset: int
    is_prev: bool
    has_results: bool = False

    def __str__(self) -> str:
        return f"{self.value}:{self.offset}:{int(self.is_prev)}"


def parse_cursor(text: str | None) -> Cursor:
    """Parse `value:offset:is_prev`; ValueError on anything else (Sentry: "Invalid cursor parameter.")."""
    if text is None:
        return Cursor(0, 0, False)
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(text)
    value, offset, is_prev = (int(part) for part in parts)
    return Cursor(value, offset, bool(is_prev))


def parse_per_page(text: str | None, default: int) -> int:
    """Sentry's `get_per_page`: an integer from 1 to 100; ValueError with Sentry's message otherwise."""
    if text is None:
        return default
    try:
        per_page = int(text)
    except ValueError:
        raise ValueError("Invalid per_page parameter.") from None
    if per_page > MAX_PER_PAGE:
        raise ValueError(f"Invalid per_page value. Cannot exceed {MAX_PER_PAGE}.")
    if per_page < 1:
        raise ValueError("Invalid per_page parameter.")
    return per_page


def offset_paginate(items: Sequence[T], cursor: Cursor, limit: int) -> tuple[list[T], Cursor, Cursor]:
    """Sentry's `OffsetPaginator`: the cursor's offset counts pages of `value` items."""
    page = cursor.offset
    start = page * cursor.value
    if start < 0:
        raise ValueError("Pagination offset cannot be negative")
    results = list(items[start : start + (cursor.value or limit) + 1])
    if cursor.value != limit:
        results = results[-(limit + 1) :]
    next_cursor = Cursor(limit, page + 1, False, len(results) > limit)
    previous = Cursor(limit, page - 1, True, page > 0)
    return results[:limit], next_cursor, previous


def generic_offset_paginate(items: Sequence[T], cursor: Cursor, limit: int) -> tuple[list[T], Cursor, Cursor]:
    """Sentry's `GenericOffsetPaginator`: the cursor's offset counts items."""
    offset = cursor.offset if cursor.value == 0 else cursor.offset * cursor.value
    if offset < 0:
        raise ValueError("Pagination offset cannot be negative")
    results = list(items[offset : offset + limit + 1])
    has_more = len(results) > limit
    next_cursor = Cursor(0, offset + limit, False, has_more)
    previous = Cursor(0, max(0, offset - limit), True, offset > 0)
    return results[:limit], next_cursor, previous


def link_header(base_url: str, path: str, params: list[tuple[str, str]], previous: Cursor, next_: Cursor) -> str:
    """The `Link` header as Sentry's `build_cursor_link` writes it (`?<query>&cursor=`)."""
    query = urlencode([(k, v) for k, v in params if k != "cursor"])
    uri = f"{base_url}{quote(path)}?{query}"

    def entry(name: str, cursor: Cursor) -> str:
        results = "true" if cursor.has_results else "false"
        return f'<{uri}&cursor={cursor}>; rel="{name}"; results="{results}"; cursor="{cursor}"'

    return f"{entry('previous', previous)}, {entry('next', next_)}"
