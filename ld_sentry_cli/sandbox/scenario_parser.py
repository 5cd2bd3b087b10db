"""Read a sandbox scenario from TOML (parsed with tomlkit) or from a plain dict, and validate it.

Format (every table and key is optional unless marked *required*; unknown keys are errors so that
typos surface; README.md in this package has a worked example)::

    name = "demo"                            # shown by GET /_sandbox/health
    description = "..."

    [launchdarkly]
    account_id = "..."
    [[launchdarkly.tokens]]
    value = "sandbox-ld-token"               # *required*; sent raw in `Authorization`
    name = "ldsentry sandbox"                # tokenName in caller-identity
    kind = "service"                         # service | personal
    access = "writer"                        # writer | reader (403 on writes) | none (403 everywhere)
    project_keys_filter = "honoured"         # projects list filter=keys: honoured | ignored | rejected (400)
    event_keys_filter = "honoured"           # metrics list filter=eventKeys: honoured | ignored | rejected (400)
    older_instance = false                   # true: predates analysisUnits (POST naming it gets 400)
    [launchdarkly.rate_limit]                # advertised limits per window (headers only
    global_limit = 2000                      #   unless enforce = true)
    route_limit = 500
    window_ms = 10000
    enforce = false
    [[launchdarkly.projects]]
    key = "checkout"                         # *required*
    name = "Checkout"                        # default: the key
    tags = ["team-a"]
    environments = ["production", "staging"] # or tables {key, name, color, critical, tags}
    filler_metrics = 118                     # unrelated metrics listed before `metrics`
    experiment_units = ["user"]              # context kinds available for experiments
    [[launchdarkly.projects.metrics]]
    key = "sentry-errors"                    # *required*
    name = "Sentry errors"                   # default: the key
    kind = "custom"                          # custom | pageview | click | trace
    event_key = "sentry-errors"              # required for custom metrics
    is_numeric = false
    success_criteria = "LowerThanBaseline"   # required for numeric metrics
    unit_aggregation_type = "average"        # average (binary) | sum (count) | count_distinct
    randomization_units = ["user"]           # served as analysisUnits and randomizationUnits
    data_source = "launchdarkly-hosted"      # dataSource.key; anything else is a warehouse
    data_source_environment = "prod"         # dataSource.environmentKey
    tags = ["sentry"]
    archived = false
    last_seen = "3h"                         # age of the last event received

    [sentry]
    organization = "acme"                    # the one organization's slug
    organization_id = 1
    projects_page_size = 10                  # default per_page of the project list
    events_page_size = 100                   # default per_page of event lists
    older_instance = false                   # true: project summaries carry no `environments`
    [sentry.rate_limit]
    limit = 40
    window_s = 1
    concurrent_limit = 25
    enforce = false
    [sentry.organization_scrubbing]          # the same keys; absent: the organization details omit them
    sensitive_fields = ["email"]
    [[sentry.tokens]]
    value = "sandbox-sentry-token"           # *required*; sent as `Bearer <value>`
    scopes = ["org:read", "project:read", "event:read"]
    [[sentry.projects]]
    slug = "web-frontend"                    # *required*
    id = 4505278496                          # *required*, numeric
    name = "Web Frontend"
    platform = "javascript"
    environments = ["production", "staging"]
    hidden_environments = ["qa"]
    [sentry.projects.scrubbing]              # getProject's data scrubbing settings (these are the defaults)
    data_scrubber = true
    data_scrubber_defaults = true
    sensitive_fields = []
    safe_fields = []
    scrub_ip_addresses = false
    relay_pii_config = '{"rules": {}, "applications": {}}'   # optional advanced rules (JSON text)
    [[sentry.projects.events]]
    age = "2h"                               # *required*; before the sandbox's "now"
    environment = "production"               # one of the project's environments
    count = 1                                # this many alike events (distinct ids)
    id = "<32 hex>"                          # only with count = 1; default derived
    message = "TypeError: x is undefined"
    level = "error"
    release = "web@1.2.3"
    user = { id = "42", email = "a@example.com" }
    tags = { browser = "Firefox" }
    contexts.launchdarklyContext = { kind = "user", key = "user-1" }

    [faults]
    seed = 7
    latency_ms = 0
    latency_jitter_ms = 0
    rate_limited = 0.0                       # shares of requests, 0..1, summing to at most 1
    server_errors = 0.0
    dropped = 0.0
    reset_ms = 1000                          # how far ahead a 429's reset headers point
    [[faults.routes]]                        # per path prefix; unspecified keys inherit [faults]
    prefix = "/v2/event-data-import/"
    dropped = 0.2
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import tomlkit
from tomlkit.exceptions import TOMLKitError

from ld_sentry_cli.sandbox.durations import parse_duration
from ld_sentry_cli.sandbox.faults import FaultPlan, FaultRule
from ld_sentry_cli.sandbox.scenario import (
    FILTER_BEHAVIOURS,
    HOSTED_DATA_SOURCE,
    METRIC_KINDS,
    SUCCESS_CRITERIA,
    TOKEN_ACCESS_LEVELS,
    TOKEN_KINDS,
    UNIT_AGGREGATION_TYPES,
    LaunchDarklyScenario,
    LdEnvironmentSpec,
    LdMetricSpec,
    LdProjectSpec,
    LdRateLimit,
    LdToken,
    Scenario,
    SentryEventSpec,
    SentryProjectSpec,
    SentryRateLimit,
    SentryScenario,
    SentryScrubbingSpec,
    SentryToken,
)

_EVENT_ID = re.compile(r"^[0-9a-f]{32}$")
_FILLER_KEY = "filler-metric-{:03d}"
_MISSING: Any = object()


class ScenarioError(ValueError):
    """A scenario that cannot be read; the message names the file and the offending key."""


class _Table:
    """One TOML table being read: typed getters that report the key path, and unknown-key checks."""

    def __init__(self, data: Any, where: str, source: str) -> None:
        self.where = where
        self.source = source
        if not isinstance(data, Mapping):
            self.fail(f"must be a table, not {_type_name(data)}")
        self.data: Mapping[str, Any] = data
        self._read: set[str] = set()

    def fail(self, problem: str, key: str | None = None) -> Any:
        """Raise a ScenarioError located at this table (or one of its keys)."""
        location = self.where if key is None else (f"{self.where}.{key}" if self.where else key)
        raise ScenarioError(f"{self.source}: {location or '(top level)'}: {problem}")

    def _get(self, key: str, default: Any) -> Any:
        self._read.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            self.fail(f'missing required key "{key}"')
        return default

    def text(self, key: str, default: Any = _MISSING, *, choices: tuple[str, ...] = ()) -> Any:
        """A string value (or the default, which may be None)."""
        value = self._get(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, str):
            self.fail(f"must be a string, not {_type_name(value)}", key)
        if not value.strip():
            self.fail("must not be empty", key)
        if choices and value not in choices:
            self.fail(f"must be one of {', '.join(choices)} (got {value!r})", key)
        return value

    def integer(self, key: str, default: Any = _MISSING, *, minimum: int | None = None) -> Any:
        """An integer value, optionally bounded below."""
        value = self._get(key, default)
        if value is default and key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"must be an integer, not {_type_name(value)}", key)
        if minimum is not None and value < minimum:
            self.fail(f"must be at least {minimum} (got {value})", key)
        return value

    def number(self, key: str, default: float, *, maximum: float | None = None) -> float:
        """A non-negative number (int or float)."""
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"must be a number, not {_type_name(value)}", key)
        if value < 0 or (maximum is not None and value > maximum):
            bound = f"between 0 and {maximum}" if maximum is not None else "at least 0"
            self.fail(f"must be {bound} (got {value})", key)
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        """A boolean value."""
        value = self._get(key, default)
        if not isinstance(value, bool):
            self.fail(f"must be true or false, not {_type_name(value)}", key)
        return bool(value)

    def text_list(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A list of non-empty strings."""
        value = self._get(key, default)
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            self.fail("must be a list of non-empty strings", key)
        return tuple(value)

    def duration(self, key: str, default: Any = _MISSING) -> Any:
        """An age such as "2h" (units s, m, h, d, w)."""
        value = self.text(key, default)
        if value is default and key not in self.data:
            return value
        try:
            return parse_duration(value)
        except ValueError as exc:
            return self.fail(str(exc), key)

    def table(self, key: str) -> _Table:
        """A sub-table (an empty one when absent)."""
        return _Table(self._get(key, {}), self._child(key), self.source)

    def tables(self, key: str) -> list[_Table]:
        """An array of tables (`[[key]]`)."""
        value = self._get(key, [])
        if not isinstance(value, (list, tuple)):
            self.fail(f"must be an array of tables ([[{key}]]), not {_type_name(value)}", key)
        return [_Table(item, f"{self._child(key)}[{index}]", self.source) for index, item in enumerate(value)]

    def mapping(self, key: str) -> Mapping[str, Any] | None:
        """A free-form table kept as plain data (contexts, user, tags)."""
        value = self._get(key, None)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.fail(f"must be a table, not {_type_name(value)}", key)
        return dict(value)

    def has(self, key: str) -> bool:
        """True when the key is present."""
        return key in self.data

    def done(self) -> None:
        """Fail on keys nobody asked for (usually typos)."""
        unknown = sorted(set(self.data) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read)) or "none"
            self.fail(f"unknown key {unknown[0]!r} (known keys: {known})", None)

    def _child(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key


def _type_name(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "an array"
    return type(value).__name__


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario TOML file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot read scenario file: {exc.strerror or exc}") from exc
    return parse_scenario_text(text, source=str(file))


def parse_scenario_text(text: str, source: str = "<string>") -> Scenario:
    """Parse and validate scenario TOML text."""
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ScenarioError(f"{source}: invalid TOML: {exc}") from exc
    return scenario_from_dict(document.unwrap(), source=source)


def scenario_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> Scenario:
    """Validate an in-memory scenario (the same shape as the TOML file)."""
    root = _Table(data, "", source)
    scenario = Scenario(
        name=root.text("name", "sandbox"),
        description=root.text("description", ""),
        launchdarkly=_launchdarkly(root.table("launchdarkly")),
        sentry=_sentry(root.table("sentry")),
        faults=parse_fault_plan(root.table("faults")),
        source=source,
    )
    root.done()
    return scenario


def demo_scenario_path() -> Path:
    """The bundled demo scenario used by `ldsentry demo`."""
    return Path(str(resources.files("ld_sentry_cli.sandbox") / "scenarios" / "demo.toml"))


def load_demo_scenario() -> Scenario:
    """Read the bundled demo scenario."""
    return load_scenario(demo_scenario_path())


# --- LaunchDarkly -------------------------------------------------------------------------------


def _launchdarkly(table: _Table) -> LaunchDarklyScenario:
    defaults = LaunchDarklyScenario()
    tokens = tuple(_ld_token(item) for item in table.tables("tokens"))
    _unique(table, "tokens", [t.value for t in tokens], "token value")
    projects = tuple(_ld_project(item) for item in table.tables("projects"))
    _unique(table, "projects", [p.key for p in projects], "project key")
    rate_limit = _rate_limit(table.table("rate_limit"), LdRateLimit())
    result = LaunchDarklyScenario(
        account_id=table.text("account_id", defaults.account_id),
        tokens=tokens,
        projects=projects,
        rate_limit=rate_limit,
        project_keys_filter=table.text("project_keys_filter", defaults.project_keys_filter, choices=FILTER_BEHAVIOURS),
        event_keys_filter=table.text("event_keys_filter", defaults.event_keys_filter, choices=FILTER_BEHAVIOURS),
        older_instance=table.flag("older_instance", defaults.older_instance),
    )
    table.done()
    return result


def _ld_token(table: _Table) -> LdToken:
    base = LdToken(value="")
    token = LdToken(
        value=table.text("value"),
        name=table.text("name", base.name),
        kind=table.text("kind", base.kind, choices=TOKEN_KINDS),
        access=table.text("access", base.access, choices=TOKEN_ACCESS_LEVELS),
        member_id=table.text("member_id", base.member_id),
    )
    table.done()
    return token


def _ld_project(table: _Table) -> LdProjectSpec:
    key = table.text("key")
    environments = tuple(_ld_environments(table))
    _unique(table, "environments", [e.key for e in environments], "environment key")
    metrics = tuple(_ld_metric(item) for item in table.tables("metrics"))
    filler = table.integer("filler_metrics", 0, minimum=0)
    keys = [_FILLER_KEY.format(i + 1) for i in range(filler)] + [m.key for m in metrics]
    _unique(table, "metrics", keys, "metric key (filler metrics are named filler-metric-NNN)")
    project = LdProjectSpec(
        key=key,
        name=table.text("name", key),
        tags=table.text_list("tags"),
        environments=environments,
        metrics=metrics,
        filler_metrics=filler,
        experiment_units=table.text_list("experiment_units", ("user",)),
    )
    table.done()
    return project


def _ld_environments(table: _Table) -> Iterator[LdEnvironmentSpec]:
    raw = table._get("environments", [])
    if not isinstance(raw, (list, tuple)):
        table.fail("must be an array of keys or tables", "environments")
    for index, item in enumerate(raw):
        if isinstance(item, str) and item:
            yield LdEnvironmentSpec(key=item, name=item.replace("-", " ").title(), critical=item == "production")
            continue
        env = _Table(item, f"{table.where}.environments[{index}]", table.source)
        key = env.text("key")
        yield LdEnvironmentSpec(
            key=key,
            name=env.text("name", key.replace("-", " ").title()),
            color=env.text("color", "417505"),
            critical=env.flag("critical", key == "production"),
            tags=env.text_list("tags"),
        )
        env.done()


def _ld_metric(table: _Table) -> LdMetricSpec:
    key = table.text("key")
    kind = table.text("kind", "custom", choices=METRIC_KINDS)
    is_numeric = table.flag("is_numeric", False)
    metric = LdMetricSpec(
        key=key,
        name=table.text("name", key),
        kind=kind,
        event_key=table.text("event_key", None),
        is_numeric=is_numeric,
        success_criteria=table.text("success_criteria", None, choices=SUCCESS_CRITERIA),
        unit_aggregation_type=table.text("unit_aggregation_type", "average", choices=UNIT_AGGREGATION_TYPES),
        randomization_units=table.text_list("randomization_units", ("user",)),
        tags=table.text_list("tags"),
        description=table.text("description", None),
        unit=table.text("unit", None),
        archived=table.flag("archived", False),
        last_seen=table.duration("last_seen", None),
        data_source=table.text("data_source", HOSTED_DATA_SOURCE),
        data_source_environment=table.text("data_source_environment", None),
    )
    # The rules of a metric POST (launchdarkly-api.md §1.3); the click/pageview one is Terraform's (§5.2).
    if kind == "custom" and metric.event_key is None:
        table.fail('a custom metric needs "event_key"')
    if kind == "custom" and is_numeric and metric.success_criteria is None:
        table.fail('a numeric metric needs "success_criteria"')
    if kind in ("click", "pageview") and metric.event_key is not None:
        table.fail(f'a {kind} metric cannot have "event_key"')
    table.done()
    return metric


# --- Sentry -------------------------------------------------------------------------------------


def _sentry(table: _Table) -> SentryScenario:
    base = SentryScenario()
    tokens = tuple(_sentry_token(item) for item in table.tables("tokens"))
    _unique(table, "tokens", [t.value for t in tokens], "token value")
    projects = tuple(_sentry_project(item) for item in table.tables("projects"))
    _unique(table, "projects", [p.slug for p in projects], "project slug")
    _unique(table, "projects", [str(p.id) for p in projects], "project id")
    event_ids = [e.event_id for p in projects for e in p.events if e.event_id]
    _unique(table, "projects", event_ids, "event id")
    rate_limit = _rate_limit(table.table("rate_limit"), SentryRateLimit())
    organization = table.text("organization", base.organization)
    organization_scrubbing = (
        _scrubbing(table.table("organization_scrubbing")) if table.has("organization_scrubbing") else None
    )
    result = SentryScenario(
        organization=organization,
        organization_id=table.integer("organization_id", base.organization_id, minimum=1),
        organization_name=table.text("organization_name", organization.replace("-", " ").title()),
        tokens=tokens,
        projects=projects,
        projects_page_size=table.integer("projects_page_size", base.projects_page_size, minimum=1),
        events_page_size=table.integer("events_page_size", base.events_page_size, minimum=1),
        rate_limit=rate_limit,
        older_instance=table.flag("older_instance", base.older_instance),
        organization_scrubbing=organization_scrubbing,
    )
    if result.projects_page_size > 100 or result.events_page_size > 100:
        table.fail("page sizes cannot exceed 100, Sentry's maximum per_page")
    table.done()
    return result


def _sentry_token(table: _Table) -> SentryToken:
    token = SentryToken(value=table.text("value"), scopes=table.text_list("scopes", SentryToken("").scopes))
    table.done()
    return token


def _sentry_project(table: _Table) -> SentryProjectSpec:
    slug = table.text("slug")
    environments = table.text_list("environments")
    hidden = table.text_list("hidden_environments")
    _unique(table, "environments", list(environments) + list(hidden), "environment name")
    for name in (*environments, *hidden):
        # Sentry's own rules for environment names (Sentry notes §3).
        if len(name) > 64 or any(c in name for c in " \n/") or name == "None":
            table.fail(f"invalid Sentry environment name {name!r}", "environments")
    events = tuple(_sentry_event(item, set(environments) | set(hidden)) for item in table.tables("events"))
    project = SentryProjectSpec(
        slug=slug,
        id=table.integer("id", minimum=1),
        name=table.text("name", slug.replace("-", " ").title()),
        platform=table.text("platform", "python"),
        environments=environments,
        hidden_environments=hidden,
        events=events,
        scrubbing=_scrubbing(table.table("scrubbing")),
    )
    table.done()
    return project


def _scrubbing(table: _Table) -> SentryScrubbingSpec:
    """A `scrubbing` table (a project's) or `organization_scrubbing`: Sentry's data scrubbing settings."""
    base = SentryScrubbingSpec()
    settings = SentryScrubbingSpec(
        data_scrubber=table.flag("data_scrubber", base.data_scrubber),
        data_scrubber_defaults=table.flag("data_scrubber_defaults", base.data_scrubber_defaults),
        sensitive_fields=table.text_list("sensitive_fields"),
        safe_fields=table.text_list("safe_fields"),
        scrub_ip_addresses=table.flag("scrub_ip_addresses", base.scrub_ip_addresses),
        relay_pii_config=table.text("relay_pii_config", None),
    )
    table.done()
    return settings


def _sentry_event(table: _Table, environments: set[str]) -> SentryEventSpec:
    environment = table.text("environment", None)
    if environment is not None and environment not in environments:
        table.fail(
            f"environment {environment!r} is not one of the project's environments or hidden_environments",
            "environment",
        )
    count = table.integer("count", 1, minimum=1)
    event_id = table.text("id", None)
    if event_id is not None and (count != 1 or not _EVENT_ID.match(event_id)):
        table.fail("must be 32 lowercase hex characters, and only with count = 1", "id")
    contexts = table.mapping("contexts") or {}
    for name, value in contexts.items():
        if not isinstance(value, Mapping):
            table.fail(
                f"must be a table: Sentry only stores object contexts (got {_type_name(value)})", f"contexts.{name}"
            )
    tags = table.mapping("tags") or {}
    if not all(isinstance(v, str) for v in tags.values()):
        table.fail("tag values must be strings", "tags")
    event = SentryEventSpec(
        age=table.duration("age"),
        environment=environment,
        contexts=dict(contexts),
        count=count,
        event_id=event_id,
        message=table.text("message", None),
        level=table.text("level", "error", choices=("fatal", "error", "warning", "info", "debug")),
        user=table.mapping("user"),
        tags=dict(tags),
        release=table.text("release", None),
    )
    table.done()
    return event


# --- Faults -------------------------------------------------------------------------------------


def parse_fault_plan(table: _Table | Mapping[str, Any], source: str = "<faults>") -> FaultPlan:
    """Read a `[faults]` table (also the body of `PUT /_sandbox/faults`)."""
    reader = table if isinstance(table, _Table) else _Table(table, "faults", source)
    seed = reader.integer("seed", 0)
    default = _fault_rule(reader, FaultRule(), with_prefix=False)
    routes = []
    for item in reader.tables("routes"):
        routes.append(_fault_rule(item, default, with_prefix=True))
        item.done()
    reader.done()
    return FaultPlan(seed=seed, default=default, routes=tuple(routes))


def _fault_rule(table: _Table, inherit: FaultRule, *, with_prefix: bool) -> FaultRule:
    values: dict[str, Any] = {}
    for spec in fields(FaultRule):
        if spec.name == "prefix":
            continue
        if spec.name == "reset_ms":
            values[spec.name] = table.integer(spec.name, getattr(inherit, spec.name), minimum=0)
        else:
            share = spec.name in ("rate_limited", "server_errors", "dropped")
            values[spec.name] = table.number(spec.name, getattr(inherit, spec.name), maximum=1.0 if share else None)
    rule = replace(inherit, prefix=table.text("prefix") if with_prefix else "", **values)
    if rule.rate_limited + rule.server_errors + rule.dropped > 1.0 + 1e-9:
        table.fail("rate_limited + server_errors + dropped must not exceed 1")
    return rule


_RateLimitT = TypeVar("_RateLimitT", LdRateLimit, SentryRateLimit)


def _rate_limit(table: _Table, base: _RateLimitT) -> _RateLimitT:
    """A `rate_limit` table: every limit a whole number of at least 1, `enforce` a flag."""
    values: dict[str, Any] = {}
    for spec in fields(base):
        default = getattr(base, spec.name)
        if isinstance(default, bool):
            values[spec.name] = table.flag(spec.name, default)
        else:
            values[spec.name] = table.integer(spec.name, default, minimum=1)
    table.done()
    return replace(base, **values)


def _unique(table: _Table, key: str, values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            table.fail(f"duplicate {what} {value!r}", key)
        seen.add(value)
