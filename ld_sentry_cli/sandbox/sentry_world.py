"""The Sentry organization as the sandbox holds it: projects, environments and stored events.

Events are materialised once, at absolute times computed from their scenario ages and "now", and
their contexts are shaped the way Sentry's REST serializer shows them (Sentry notes §4.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ld_sentry_cli.sandbox.ids import event_id_from, numeric_id
from ld_sentry_cli.sandbox.scenario import (
    SentryEventSpec,
    SentryProjectSpec,
    SentryScenario,
    SentryScrubbingSpec,
    SentryToken,
)

FILTERED = "[Filtered]"

# Context classes Sentry knows; any other context serialises with "type": "default"
# (sentry `interfaces/contexts.py`, Sentry notes §4.1).
KNOWN_CONTEXT_TYPES = frozenset(
    {"default", "app", "device", "runtime", "browser", "os", "gpu", "monitor", "trace", "otel"}
)

_MESSAGES = (
    ("TypeError", "Cannot read properties of undefined (reading 'id')"),
    ("ValueError", "invalid literal for int() with base 10: 'abc'"),
    ("KeyError", "'customer_id'"),
    ("ReferenceError", "x is not defined"),
    ("TimeoutError", "upstream request timed out after 30s"),
)


@dataclass(frozen=True)
class SentryEnvironmentState:
    """An environment of one project: org-wide id, name and whether it is hidden there."""

    id: str
    name: str
    is_hidden: bool


def shown(environment: SentryEnvironmentState, visibility: str) -> bool:
    """Whether an environment (one project's link to it) is listed under `visibility`: all, hidden or visible."""
    return visibility == "all" or (visibility == "hidden") is environment.is_hidden


@dataclass(frozen=True)
class EventRecord:
    """One stored error event."""

    event_id: str
    project_id: str
    project_slug: str
    environment: str | None
    timestamp: datetime
    received: datetime
    contexts: dict[str, Any]
    contexts_meta: dict[str, Any]
    exception_type: str
    message: str
    level: str
    platform: str
    user: dict[str, Any] | None
    tags: tuple[tuple[str, str], ...]
    release: str | None
    group_id: str

    @property
    def title(self) -> str:
        """The issue-style title, `Type: message`."""
        return f"{self.exception_type}: {self.message}"


@dataclass
class SentryProjectState:
    """A project, its environments and its events (newest first)."""

    id: str
    slug: str
    name: str
    platform: str | None
    created: datetime
    environments: list[SentryEnvironmentState]
    events: list[EventRecord] = field(default_factory=list)
    scrubbing: SentryScrubbingSpec = field(default_factory=SentryScrubbingSpec)


class SentryWorld:
    """Everything Sentry knows in this sandbox (read-only once built)."""

    def __init__(self, scenario: SentryScenario, now: datetime) -> None:
        self.organization = scenario.organization
        self.older_instance = scenario.older_instance
        self.organization_id = str(scenario.organization_id)
        self.organization_name = scenario.organization_name
        self.organization_scrubbing = scenario.organization_scrubbing
        self.now = now
        self.tokens: dict[str, SentryToken] = {token.value: token for token in scenario.tokens}
        self.environment_ids: dict[str, str] = {}
        self.projects: dict[str, SentryProjectState] = {}
        self.events: dict[str, EventRecord] = {}
        for index, spec in enumerate(scenario.projects):
            project = self._project(spec, now - timedelta(days=400 - index))
            self.projects[project.slug] = project
            for event in project.events:
                self.events[event.event_id] = event

    def matches_organization(self, id_or_slug: str) -> bool:
        """True when a path's organization_id_or_slug names this organization."""
        return id_or_slug in (self.organization, self.organization_id)

    def project(self, id_or_slug: str) -> SentryProjectState | None:
        """A project by slug or numeric id (Sentry paths accept either, Sentry notes §1)."""
        if id_or_slug in self.projects:
            return self.projects[id_or_slug]
        return next((p for p in self.projects.values() if p.id == id_or_slug), None)

    def organization_environments(self, visibility: str = "all") -> list[SentryEnvironmentState]:
        """The org's environments in id order, filtered per project link as Sentry does (Sentry notes §3).

        Sentry filters the environment-project links, then lists their environments: `hidden` names
        those hidden in at least one project, `visible` those visible in at least one, so one
        environment can be in both. Each item's `is_hidden` says whether it is hidden everywhere.
        """
        links = [env for project in self.projects.values() for env in project.environments]
        chosen = {env.name for env in links if shown(env, visibility)}
        visible_somewhere = {env.name for p in self.projects.values() for env in p.environments if not env.is_hidden}
        return [
            SentryEnvironmentState(id=env_id, name=name, is_hidden=name not in visible_somewhere)
            for name, env_id in self.environment_ids.items()
            if name in chosen
        ]

    def _environment_id(self, name: str) -> str:
        # Environments are org-scoped objects linked to projects (Sentry notes §3).
        return self.environment_ids.setdefault(name, str(len(self.environment_ids) + 1))

    def _project(self, spec: SentryProjectSpec, created: datetime) -> SentryProjectState:
        environments = [
            SentryEnvironmentState(id=self._environment_id(name), name=name, is_hidden=False)
            for name in spec.environments
        ] + [
            SentryEnvironmentState(id=self._environment_id(name), name=name, is_hidden=True)
            for name in spec.hidden_environments
        ]
        project = SentryProjectState(
            id=str(spec.id),
            slug=spec.slug,
            name=spec.name,
            platform=spec.platform,
            created=created,
            environments=environments,
            scrubbing=spec.scrubbing,
        )
        events = [
            _event(spec, event_spec, position, copy, self.now)
            for position, event_spec in enumerate(spec.events)
            for copy in range(event_spec.count)
        ]
        project.events = sorted(events, key=lambda e: (e.timestamp, e.event_id), reverse=True)
        return project


def _event(project: SentryProjectSpec, spec: SentryEventSpec, position: int, copy: int, now: datetime) -> EventRecord:
    event_id = spec.event_id or event_id_from("sentry-event", project.slug, str(position), str(copy))
    exception_type, default_message = _MESSAGES[position % len(_MESSAGES)]
    message = spec.message or default_message
    if ": " in message and spec.message is not None:
        exception_type, message = message.split(": ", 1)
    timestamp = now - spec.age - timedelta(seconds=7 * copy)
    tags = {"level": spec.level, **spec.tags}
    if spec.environment is not None:
        tags["environment"] = spec.environment
    if spec.release is not None:
        tags["release"] = spec.release
    contexts = {name: shape_context(name, value) for name, value in spec.contexts.items()}
    return EventRecord(
        event_id=event_id,
        project_id=str(project.id),
        project_slug=project.slug,
        environment=spec.environment,
        timestamp=timestamp,
        received=timestamp + timedelta(milliseconds=250),
        contexts=contexts,
        contexts_meta={name: meta for name, value in contexts.items() if (meta := _filtered_meta(value))},
        exception_type=exception_type,
        message=message,
        level=spec.level,
        platform=project.platform or "other",
        user=_user(spec.user),
        tags=tuple(sorted(tags.items())),
        release=spec.release,
        group_id=numeric_id("sentry-group", project.slug, exception_type, message),
    )


def shape_context(name: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """A context as the REST serializer returns it: nulls dropped, long numbers stringified, `type` set."""
    shaped = {key: _shape_value(item) for key, item in value.items() if item is not None and key != "type"}
    # The class comes from the context's own `type`, falling back to its name; the output `type`
    # is the class's, so unknown types (such as launchdarklyContext) read "default".
    own_type = value.get("type", name)
    shaped["type"] = own_type if own_type in KNOWN_CONTEXT_TYPES else "default"
    return shaped


def _shape_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and len(str(abs(int(value)))) > 15:
        return str(value)  # numbers longer than 15 digits become strings (Sentry notes §4.1)
    if isinstance(value, Mapping):
        return {k: _shape_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_shape_value(v) for v in value]
    return value


def _filtered_meta(value: Any) -> dict[str, Any] | None:
    """`_meta` annotations for every "[Filtered]" value, the way Relay records a scrub."""
    if value == FILTERED:
        return {"": {"rem": [["@password:filter", "s"]], "len": 12}}
    if isinstance(value, Mapping):
        found = {key: meta for key, item in value.items() if (meta := _filtered_meta(item))}
        return found or None
    return None


def _user(user: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if user is None:
        return None
    known = ("id", "email", "username", "ip_address", "name")
    shaped: dict[str, Any] = {key: (str(user[key]) if key in user else None) for key in known}
    extra = {key: value for key, value in user.items() if key not in known}
    shaped["data"] = extra or None
    return shaped
