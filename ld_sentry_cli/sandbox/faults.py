"""Fault injection: added latency, 429s, 5xx and dropped connections, deterministic with a seed.

A decision depends only on the seed, the request (method, path, query) and how many times that
same request was seen before, never on the order in which concurrent requests arrive. So a seeded
run injects the same faults into the same requests every time, however the client schedules them,
and a retry (the next occurrence) gets a fresh draw.
"""

from __future__ import annotations

import enum
import random
import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FaultRule:
    """What to inject into requests whose path starts with `prefix` ("" matches every path)."""

    prefix: str = ""
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0  # uniform extra delay in [0, jitter)
    rate_limited: float = 0.0  # share of requests answered 429
    server_errors: float = 0.0  # share answered 500/502/503/504
    dropped: float = 0.0  # share whose connection is closed without a response
    reset_ms: int = 1000  # how far ahead the 429's reset headers point

    @property
    def drawn(self) -> bool:
        """True when decisions under the rule depend on a seeded draw (jitter or a fault share)."""
        return bool(self.latency_jitter_ms or self.rate_limited or self.server_errors or self.dropped)

    @property
    def active(self) -> bool:
        """True when the rule injects anything at all."""
        return bool(self.latency_ms) or self.drawn


@dataclass(frozen=True)
class FaultPlan:
    """A seed, a rule for every path, and optional per-prefix rules (the longest prefix wins)."""

    seed: int = 0
    default: FaultRule = field(default_factory=FaultRule)
    routes: tuple[FaultRule, ...] = ()

    def rule_for(self, path: str) -> FaultRule:
        """The rule that applies to a request path."""
        matching = [rule for rule in self.routes if path.startswith(rule.prefix)]
        return max(matching, key=lambda rule: len(rule.prefix)) if matching else self.default


class FaultKind(str, enum.Enum):
    """The outcome a fault decision imposes on a request."""

    NONE = "none"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    DROPPED = "dropped"


@dataclass(frozen=True)
class FaultDecision:
    """The delay to add and the fault (if any) to serve instead of the real response."""

    delay_s: float = 0.0
    kind: FaultKind = FaultKind.NONE
    status: int | None = None  # for SERVER_ERROR: which 5xx
    reset_ms: int = 1000


NO_FAULT = FaultDecision()

# Gateways in front of both services answer with these when they fail.
_SERVER_STATUSES = (500, 502, 503, 504)


class FaultInjector:
    """Draws a decision for each request from a FaultPlan (thread-safe)."""

    def __init__(self, plan: FaultPlan) -> None:
        self._plan = plan
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def plan(self) -> FaultPlan:
        """The plan in force."""
        return self._plan

    def replace_plan(self, plan: FaultPlan) -> None:
        """Swap the plan and restart the occurrence counts."""
        with self._lock:
            self._plan = plan
            self._seen.clear()

    def decide(self, method: str, path: str, query: str) -> FaultDecision:
        """The decision for this occurrence of the request."""
        fixed = self._plan.rule_for(path)
        if not fixed.drawn:
            # Nothing to draw, so no Random to seed (a SHA-512 of the seed string, the costliest
            # step of a decision, paid by every request under a plain `latency_ms`). The occurrence
            # count is only ever read by draws for this path, which this plan never makes.
            return FaultDecision(fixed.latency_ms / 1000.0, reset_ms=fixed.reset_ms) if fixed.active else NO_FAULT
        target = f"{method} {path}?{query}"
        with self._lock:
            plan = self._plan
            occurrence = self._seen[target]
            self._seen[target] += 1
        rule = plan.rule_for(path)
        if not rule.active:
            return NO_FAULT
        draw = random.Random(f"{plan.seed}|{target}|{occurrence}")  # noqa: S311 - not cryptographic
        delay_ms = rule.latency_ms + (draw.random() * rule.latency_jitter_ms if rule.latency_jitter_ms else 0.0)
        roll = draw.random()
        status: int | None = None
        if roll < rule.dropped:
            kind = FaultKind.DROPPED
        elif roll < rule.dropped + rule.rate_limited:
            kind = FaultKind.RATE_LIMITED
        elif roll < rule.dropped + rule.rate_limited + rule.server_errors:
            kind = FaultKind.SERVER_ERROR
            status = draw.choice(_SERVER_STATUSES)
        else:
            kind = FaultKind.NONE
        return FaultDecision(delay_s=delay_ms / 1000.0, kind=kind, status=status, reset_ms=rule.reset_ms)
