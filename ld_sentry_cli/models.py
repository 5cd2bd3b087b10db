"""Frozen dataclasses shared across layers: the configuration and the facts fetched from the APIs.

Clients parse raw JSON into these at the boundary (tolerating unknown fields), so nothing above
the clients ever handles a raw API payload.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ld_sentry_cli.constants import DEFAULT_EVENT_KEY, DEFAULT_METRIC_NAME


class MetricKind(str, enum.Enum):
    """How the metric counts errors: once per context (binary) or every error (count)."""

    BINARY = "binary"
    COUNT = "count"

    @property
    def unit_aggregation_type(self) -> str:
        """LaunchDarkly's `unitAggregationType` for this kind (average = binary, sum = count)."""
        return "average" if self is MetricKind.BINARY else "sum"

    @property
    def default_units(self) -> tuple[str, ...]:
        """Default randomization units when `[metric] units` is not set."""
        return ("user",) if self is MetricKind.BINARY else ("request",)


@dataclass(frozen=True)
class ProjectMapping:
    """One Sentry project+environment mapped to one LaunchDarkly project+environment."""

    sentry_project: str
    sentry_environment: str
    ld_project: str
    ld_environment: str
    # Where the [[mapping]] table starts in the file; not part of the mapping's identity.
    line: int | None = field(default=None, compare=False)

    @property
    def sentry_pair(self) -> tuple[str, str]:
        """The Sentry side, which maps to at most one LaunchDarkly environment."""
        return (self.sentry_project, self.sentry_environment)

    @property
    def label(self) -> str:
        """Human label such as `web/production → default/production`."""
        return f"{self.sentry_project}/{self.sentry_environment} → {self.ld_project}/{self.ld_environment}"


@dataclass(frozen=True)
class MetricSettings:
    """The `[metric]` table: the event key the integration sends and how to create the metric."""

    event_key: str = DEFAULT_EVENT_KEY
    key: str = DEFAULT_EVENT_KEY
    name: str = DEFAULT_METRIC_NAME
    kind: MetricKind = MetricKind.BINARY
    units: tuple[str, ...] = ("user",)
    description: str = "Error events forwarded from Sentry (managed by ldsentry)"


@dataclass(frozen=True)
class LaunchDarklySettings:
    """The `[launchdarkly]` table."""

    base_url: str | None = None
    events_url: str | None = None


@dataclass(frozen=True)
class SentrySettings:
    """The `[sentry]` table."""

    organization: str | None = None
    base_url: str | None = None


@dataclass(frozen=True)
class RelaySettings:
    """The `[relay]` table (used by `ldsentry relay`)."""

    listen: str | None = None
    spool: str | None = None
    batch_size: int | None = None
    flush_interval_ms: int | None = None


@dataclass(frozen=True)
class Config:
    """A validated ldsentry configuration."""

    launchdarkly: LaunchDarklySettings = LaunchDarklySettings()
    sentry: SentrySettings = SentrySettings()
    metric: MetricSettings = MetricSettings()
    relay: RelaySettings = RelaySettings()
    mappings: tuple[ProjectMapping, ...] = ()

    @property
    def ld_projects(self) -> tuple[str, ...]:
        """Distinct LaunchDarkly project keys in mapping order."""
        return tuple(dict.fromkeys(m.ld_project for m in self.mappings))

    @property
    def sentry_projects(self) -> tuple[str, ...]:
        """Distinct Sentry project slugs in mapping order."""
        return tuple(dict.fromkeys(m.sentry_project for m in self.mappings))


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
