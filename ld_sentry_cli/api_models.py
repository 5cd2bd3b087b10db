"""The facts fetched from LaunchDarkly and Sentry, as frozen dataclasses shared across layers.

Clients parse raw JSON into these at the boundary (tolerating unknown fields), so nothing above
the clients ever handles a raw API payload. The configuration's dataclasses are in models.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --- Facts fetched from LaunchDarkly -------------------------------------------------------------


@dataclass(frozen=True)
class LdEnvironment:
    """A LaunchDarkly environment (SDK and mobile keys are dropped at the client boundary)."""

    key: str
    name: str


@dataclass(frozen=True)
class LdProject:
    """A LaunchDarkly project with its environments."""

    key: str
    name: str
    environments: tuple[LdEnvironment, ...] = ()

    @property
    def environment_keys(self) -> tuple[str, ...]:
        """The keys of the project's environments."""
        return tuple(env.key for env in self.environments)


@dataclass(frozen=True)
class LdMetric:
    """A LaunchDarkly metric, reduced to what grading and reports need."""

    key: str
    name: str
    kind: str
    event_key: str | None = None
    is_numeric: bool = False
    success_criteria: str | None = None
    unit_aggregation_type: str | None = None
    archived: bool = False
    last_seen: int | None = None  # Unix ms, one-hour fidelity
    analysis_units: tuple[str, ...] = ()  # `analysisUnits` (formerly `randomizationUnits`): context kinds
    data_source: str | None = None  # `dataSource.key`; None when LaunchDarkly sent none
    data_source_environment: str | None = None  # `dataSource.environmentKey`


@dataclass(frozen=True)
class LdCaller:
    """Who a LaunchDarkly access token belongs to (from caller-identity)."""

    account_id: str | None = None
    token_name: str | None = None
    token_kind: str | None = None
    member_email: str | None = None


# --- Facts fetched from Sentry ------------------------------------------------------------------


@dataclass(frozen=True)
class SentryProject:
    """A Sentry project: its numeric id (as webhooks send it) and its slug (as the config names it)."""

    id: str
    slug: str
    name: str = ""
    # The environment names the organization's project list carries (hidden ones left out, as far
    # as Sentry's serializer shows); None when the summary has none (older self-hosted Sentry).
    environments: tuple[str, ...] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SentryEnvironment:
    """A Sentry environment of one project; hidden ones still exist."""

    name: str
    is_hidden: bool = False


@dataclass(frozen=True)
class SentryEvent:
    """A Sentry error event with its contexts (user data, kept as parsed JSON objects)."""

    event_id: str
    project_id: str | None = None
    environment: str | None = None
    web_url: str | None = None
    timestamp_ms: int | None = None
    contexts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SentryAuth:
    """What the Sentry API root says about the token: its scopes."""

    scopes: tuple[str, ...] = ()
    user_email: str | None = None
