"""The configuration as frozen dataclasses, shared across layers: what config/loader.py builds from the file.

The facts fetched from the APIs are in api_models.py.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

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
