"""Rate-limit bookkeeping and headers, in each service's own dialect.

LaunchDarkly: fixed 10 s windows, a global and a per-route budget, headers
`X-Ratelimit-Global-Remaining`, `X-Ratelimit-Route-Remaining` and `X-Ratelimit-Reset` in epoch
milliseconds (launchdarkly-api.md §3). Sentry: fixed windows per endpoint plus a concurrency cap,
headers `X-Sentry-Rate-Limit-*` with the reset in epoch seconds (Sentry notes §6). Limits are only
advertised unless the scenario sets `enforce = true`; injected 429s come from `faults`.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass

from ld_sentry_cli.sandbox.scenario import LdRateLimit, SentryRateLimit


@dataclass(frozen=True)
class LdRateState:
    """The LaunchDarkly budget after one request."""

    global_remaining: int
    route_remaining: int
    reset_ms: int
    exceeded: bool = False

    def headers(self) -> dict[str, str]:
        """The response headers LaunchDarkly sends."""
        return {
            "X-Ratelimit-Global-Remaining": str(self.global_remaining),
            "X-Ratelimit-Route-Remaining": str(self.route_remaining),
            "X-Ratelimit-Reset": str(self.reset_ms),
        }


@dataclass(frozen=True)
class SentryRateState:
    """The Sentry budget after one request."""

    limit: int
    remaining: int
    reset_s: int
    concurrent_limit: int
    concurrent_remaining: int
    window_s: int
    exceeded: bool = False

    def headers(self) -> dict[str, str]:
        """The response headers Sentry's rate-limit middleware sends."""
        return {
            "X-Sentry-Rate-Limit-Limit": str(self.limit),
            "X-Sentry-Rate-Limit-Remaining": str(self.remaining),
            "X-Sentry-Rate-Limit-Reset": str(self.reset_s),
            "X-Sentry-Rate-Limit-ConcurrentLimit": str(self.concurrent_limit),
            "X-Sentry-Rate-Limit-ConcurrentRemaining": str(self.concurrent_remaining),
        }

    def message(self) -> str:
        """The JSON-string body of a Sentry 429."""
        return (
            "You are attempting to use this endpoint too frequently. "
            f"Limit is {self.limit} requests in {self.window_s} seconds"
        )


class LdRateLimiter:
    """Counts requests per fixed window, globally and per route."""

    def __init__(self, limits: LdRateLimit) -> None:
        self.limits = limits
        self._counts: Counter[tuple[int, str]] = Counter()
        self._lock = threading.Lock()

    def hit(self, route: str, now_ms: int) -> LdRateState:
        """Count one request on a route and return the remaining budget."""
        window = now_ms - now_ms % self.limits.window_ms
        with self._lock:
            if not any(start == window for start, _ in self._counts):
                self._counts.clear()  # a new window: forget the old one
            self._counts[(window, "")] += 1
            self._counts[(window, route)] += 1
            used_global, used_route = self._counts[(window, "")], self._counts[(window, route)]
        return LdRateState(
            global_remaining=max(0, self.limits.global_limit - used_global),
            route_remaining=max(0, self.limits.route_limit - used_route),
            reset_ms=window + self.limits.window_ms,
            exceeded=self.limits.enforce
            and (used_global > self.limits.global_limit or used_route > self.limits.route_limit),
        )

    def exhausted(self, route: str, now_ms: int, reset_after_ms: int) -> LdRateState:
        """The headers of an injected 429: this route's budget spent until the reset."""
        current = self.hit(route, now_ms)
        return LdRateState(
            global_remaining=current.global_remaining,
            route_remaining=0,
            reset_ms=now_ms + reset_after_ms,
            exceeded=True,
        )


class SentryRateLimiter:
    """Counts requests per endpoint per fixed window, and requests in flight per endpoint."""

    def __init__(self, limits: SentryRateLimit) -> None:
        self.limits = limits
        self._counts: Counter[tuple[int, str]] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, endpoint: str, now_s: float) -> SentryRateState:
        """Count a request starting on an endpoint; pair with `release`."""
        window_s = self.limits.window_s
        window = int(now_s) - int(now_s) % window_s
        with self._lock:
            if not any(start == window for start, _ in self._counts):
                self._counts.clear()
            self._counts[(window, endpoint)] += 1
            self._in_flight[endpoint] += 1
            used, in_flight = self._counts[(window, endpoint)], self._in_flight[endpoint]
        return SentryRateState(
            limit=self.limits.limit,
            remaining=max(0, self.limits.limit - used),
            reset_s=window + window_s,
            concurrent_limit=self.limits.concurrent_limit,
            concurrent_remaining=max(0, self.limits.concurrent_limit - in_flight),
            window_s=window_s,
            exceeded=self.limits.enforce and (used > self.limits.limit or in_flight > self.limits.concurrent_limit),
        )

    def release(self, endpoint: str) -> None:
        """Count a request on an endpoint as finished."""
        with self._lock:
            self._in_flight[endpoint] -= 1

    def exhausted(self, endpoint: str, now_s: float, reset_after_ms: int) -> SentryRateState:
        """The state reported by an injected 429: no budget left until the reset."""
        current = self.acquire(endpoint, now_s)
        self.release(endpoint)
        return SentryRateState(
            limit=current.limit,
            remaining=0,
            reset_s=math.ceil(now_s + reset_after_ms / 1000),
            concurrent_limit=current.concurrent_limit,
            concurrent_remaining=current.concurrent_remaining,
            window_s=current.window_s,
            exceeded=True,
        )
