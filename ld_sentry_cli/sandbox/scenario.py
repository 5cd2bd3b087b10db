"""What a sandbox scenario describes: the seeded LaunchDarkly and Sentry worlds, tokens and faults.

These frozen dataclasses are the validated form of a scenario file; `scenario_parser` builds them
from TOML or from a plain dict (see README.md in this package for the file format). Times are
ages relative to the moment the sandbox is built, so `statsPeriod` windows keep working however
old the file is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ld_sentry_cli.sandbox.faults import FaultPlan

# LaunchDarkly token access levels: "writer" may create metrics and import events, "reader" gets
# 403 on writes, "none" gets 403 on every route that can answer 403 (the "forbidden token").
TOKEN_ACCESS_LEVELS = ("writer", "reader", "none")
TOKEN_KINDS = ("personal", "service")
METRIC_KINDS = ("pageview", "click", "custom", "trace")  # launchdarkly-api.md §1.3, §1.7
SUCCESS_CRITERIA = ("HigherThanBaseline", "LowerThanBaseline")
UNIT_AGGREGATION_TYPES = ("average", "sum", "count_distinct")
HOSTED_DATA_SOURCE = "launchdarkly-hosted"  # `dataSource.key` of events sent to LaunchDarkly (§1.7)
# How a server treats a list filter it is sent: honoured, ignored (answers as if it were not
# there) or rejected (400). Which one the live service does is unverified (launchdarkly-api.md §1.7).
FILTER_BEHAVIOURS = ("honoured", "ignored", "rejected")


@dataclass(frozen=True)
class LdToken:
    """A LaunchDarkly access token the sandbox accepts (sent raw in `Authorization`)."""

    value: str
    name: str = "sandbox token"
    kind: str = "service"
    access: str = "writer"
    member_id: str = "569fdeadbeef1644facecafe"


@dataclass(frozen=True)
class LdEnvironmentSpec:
    """A LaunchDarkly environment; its SDK and mobile keys are generated (fake, credential-shaped)."""

    key: str
    name: str
    color: str = "417505"
    critical: bool = False
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class LdMetricSpec:
    """A LaunchDarkly metric as seeded (snake_case mirrors of the API's camelCase fields)."""

    key: str
    name: str
    kind: str = "custom"
    event_key: str | None = None
    is_numeric: bool = False
    success_criteria: str | None = None
    unit_aggregation_type: str | None = "average"
    randomization_units: tuple[str, ...] = ("user",)
    tags: tuple[str, ...] = ()
    description: str | None = None
    unit: str | None = None
    archived: bool = False
    last_seen: timedelta | None = None  # age of the last event received, if any
    data_source: str = HOSTED_DATA_SOURCE
    data_source_environment: str | None = None


@dataclass(frozen=True)
class LdProjectSpec:
    """A LaunchDarkly project; `filler_metrics` unrelated metrics are listed before `metrics`."""

    key: str
    name: str
    tags: tuple[str, ...] = ()
    environments: tuple[LdEnvironmentSpec, ...] = ()
    metrics: tuple[LdMetricSpec, ...] = ()
    filler_metrics: int = 0
    experiment_units: tuple[str, ...] = ("user",)  # context kinds available for experiments


@dataclass(frozen=True)
class LdRateLimit:
    """The advertised LaunchDarkly limits per 10 s window (never published; launchdarkly-api.md §3)."""

    global_limit: int = 2000
    route_limit: int = 500
    window_ms: int = 10_000
    enforce: bool = False  # answer a real 429 once a window is spent


@dataclass(frozen=True)
class LaunchDarklyScenario:
    """The LaunchDarkly account: tokens and projects."""

    account_id: str = "5f0c6a6c8a0b4a0c6c0a0b4a"
    tokens: tuple[LdToken, ...] = ()
    projects: tuple[LdProjectSpec, ...] = ()
    rate_limit: LdRateLimit = field(default_factory=LdRateLimit)
    project_keys_filter: str = "honoured"  # GET /api/v2/projects?filter=keys:… (honoured | ignored | rejected)
    event_keys_filter: str = "honoured"  # GET /api/v2/metrics/{p}?filter=eventKeys anyOf […] (same choices)
    older_instance: bool = False  # predates `analysisUnits`: a POST naming it gets 400; GETs send only the old name


@dataclass(frozen=True)
class SentryToken:
    """A Sentry bearer token and its scopes."""

    value: str
    scopes: tuple[str, ...] = ("org:read", "project:read", "event:read")


@dataclass(frozen=True)
class SentryEventSpec:
    """One error event (or `count` alike), `age` before "now"; contexts are stored as given."""

    age: timedelta
    environment: str | None = None
    contexts: Mapping[str, Any] = field(default_factory=dict)
    count: int = 1
    event_id: str | None = None
    message: str | None = None
    level: str = "error"
    user: Mapping[str, Any] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    release: str | None = None


@dataclass(frozen=True)
class SentryScrubbingSpec:
    """Data scrubbing settings of a project or the organization, as Sentry's details show them (sentry-api.md §11)."""

    data_scrubber: bool = True
    data_scrubber_defaults: bool = True
    sensitive_fields: tuple[str, ...] = ()
    safe_fields: tuple[str, ...] = ()
    scrub_ip_addresses: bool = False
    relay_pii_config: str | None = None


@dataclass(frozen=True)
class SentryProjectSpec:
    """A Sentry project: slug, numeric id, environments (some hidden) and events."""

    slug: str
    id: int
    name: str
    platform: str | None = "python"
    environments: tuple[str, ...] = ()
    hidden_environments: tuple[str, ...] = ()
    events: tuple[SentryEventSpec, ...] = ()
    scrubbing: SentryScrubbingSpec = field(default_factory=SentryScrubbingSpec)


@dataclass(frozen=True)
class SentryRateLimit:
    """The default advertised Sentry limit per window and concurrency (Sentry notes §6)."""

    limit: int = 40
    window_s: int = 1
    concurrent_limit: int = 25
    enforce: bool = False


@dataclass(frozen=True)
class SentryScenario:
    """The Sentry organization: tokens, projects and paging defaults."""

    organization: str = "acme"
    organization_id: int = 1
    organization_name: str = ""
    tokens: tuple[SentryToken, ...] = ()
    projects: tuple[SentryProjectSpec, ...] = ()
    projects_page_size: int = 10  # real default is 100; small so that clients must page
    events_page_size: int = 100
    rate_limit: SentryRateLimit = field(default_factory=SentryRateLimit)
    older_instance: bool = False  # project summaries carry no `environments` (older self-hosted Sentry)
    # None: the organization details omit the scrubbing settings, as Sentry does for many tokens.
    organization_scrubbing: SentryScrubbingSpec | None = None


@dataclass(frozen=True)
class Scenario:
    """A complete, validated sandbox scenario."""

    name: str = "sandbox"
    description: str = ""
    launchdarkly: LaunchDarklyScenario = field(default_factory=LaunchDarklyScenario)
    sentry: SentryScenario = field(default_factory=SentryScenario)
    faults: FaultPlan = field(default_factory=FaultPlan)
    source: str = "<dict>"
