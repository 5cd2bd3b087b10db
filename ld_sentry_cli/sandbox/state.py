"""The sandbox's state in one place: both worlds, the fault injector, rate limiters and the recorder.

Routes and middleware read the worlds through this object on every request, so that a reset
(which rebuilds the worlds from the scenario) takes effect at once.
"""

from __future__ import annotations

from datetime import datetime

from ld_sentry_cli.sandbox.durations import utc_now
from ld_sentry_cli.sandbox.faults import FaultInjector, FaultPlan
from ld_sentry_cli.sandbox.ld_world import LdWorld
from ld_sentry_cli.sandbox.ratelimit import LdRateLimiter, SentryRateLimiter
from ld_sentry_cli.sandbox.recorder import Recorder
from ld_sentry_cli.sandbox.scenario import Scenario
from ld_sentry_cli.sandbox.sentry_world import SentryWorld
from ld_sentry_cli.sandbox.tracking_world import TrackingWorld


class SandboxState:
    """Everything one sandbox instance knows and has seen."""

    def __init__(self, scenario: Scenario, *, faults: FaultPlan | None = None, now: datetime | None = None) -> None:
        self.scenario = scenario
        self._pinned_now = now
        self.recorder = Recorder()
        self.injector = FaultInjector(faults if faults is not None else scenario.faults)
        self.ld_limiter = LdRateLimiter(scenario.launchdarkly.rate_limit)
        self.sentry_limiter = SentryRateLimiter(scenario.sentry.rate_limit)
        self.ld, self.sentry = self._build_worlds()
        self.tracking = TrackingWorld()  # webhooks, signing secrets, flag log: empty at start

    def _build_worlds(self) -> tuple[LdWorld, SentryWorld]:
        now = self._pinned_now or utc_now()
        return LdWorld(self.scenario.launchdarkly, now), SentryWorld(self.scenario.sentry, now)

    @property
    def now(self) -> datetime:
        """The moment event ages and metric dates were computed from."""
        return self.ld.now

    def reset(self) -> None:
        """Back to the seeded worlds (created metrics gone, ages from a fresh "now"), log cleared.

        The fault plan in force stays; its occurrence counts restart, so the seeded sequence replays.
        """
        self.ld, self.sentry = self._build_worlds()
        self.tracking = TrackingWorld()
        self.recorder.clear()
        self.injector.replace_plan(self.injector.plan)
