"""The base of the emulator's route groups: handlers bound to one sandbox's state."""

from __future__ import annotations

import abc

from starlette.routing import BaseRoute

from ld_sentry_cli.sandbox.ld_world import LdWorld
from ld_sentry_cli.sandbox.sentry_world import SentryWorld
from ld_sentry_cli.sandbox.state import SandboxState
from ld_sentry_cli.sandbox.tracking_world import TrackingWorld


class RouteGroup(abc.ABC):
    """Handlers bound to one sandbox's state; they read its worlds on every request, as a reset replaces them."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state

    @property
    def ld(self) -> LdWorld:
        """The current LaunchDarkly world."""
        return self._state.ld

    @property
    def sentry(self) -> SentryWorld:
        """The current Sentry world."""
        return self._state.sentry

    @property
    def tracking(self) -> TrackingWorld:
        """The current flag change tracking world: webhooks, signing secrets, the flag log."""
        return self._state.tracking

    @abc.abstractmethod
    def routes(self) -> list[BaseRoute]:
        """The Starlette routes."""
