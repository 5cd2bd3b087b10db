"""Sentry JSON representations: projects, environments, events and Explore (Discover) rows.

Each carries every member sentry-openapi.json marks required for its operation; values follow the
spec's own examples (Sentry notes §3, §4).
"""

from __future__ import annotations

from datetime import timezone
from typing import Any

from ld_sentry_cli.sandbox.durations import iso_utc
from ld_sentry_cli.sandbox.sentry_world import (
    EventRecord,
    SentryEnvironmentState,
    SentryProjectState,
    SentryWorld,
)

JSON = dict[str, Any]

_TEAM = {"id": "2", "name": "Platform", "slug": "platform"}
_PROJECT_FLAGS = (
    "hasFeedbacks",
    "hasFlags",
    "hasMinifiedStackTrace",
    "hasMonitors",
    "hasNewFeedbacks",
    "hasProfiles",
    "hasReplays",
    "hasSessions",
    "hasUserReports",
    "hasInsightsHttp",
    "hasInsightsDb",
    "hasInsightsAssets",
    "hasInsightsAppStart",
    "hasInsightsScreenLoad",
    "hasInsightsVitals",
    "hasInsightsCaches",
    "hasInsightsQueues",
    "hasInsightsAgentMonitoring",
    "hasInsightsMCP",
    "hasLogs",
    "hasTraceMetrics",
)
_SCOPES_SEEN_BY_MEMBER = ["event:read", "member:read", "org:read", "project:read", "project:releases", "team:read"]


def _first_event(project: SentryProjectState) -> str | None:
    return iso_utc(project.events[-1].timestamp) if project.events else None


def project_summary(project: SentryProjectState, *, with_environments: bool = True) -> JSON:
    """An item of listOrganizationProjects; an older self-hosted Sentry sends no `environments`."""
    rep: JSON = {
        "id": project.id,
        "slug": project.slug,
        "name": project.name,
        "platform": project.platform,
        "dateCreated": iso_utc(project.created),
        "isBookmarked": False,
        "isMember": True,
        "features": ["alert-filters", "servicehooks", "similarity-indexing"],
        "firstEvent": _first_event(project),
        "firstTransactionEvent": False,
        "access": list(_SCOPES_SEEN_BY_MEMBER),
        "hasAccess": True,
        "team": dict(_TEAM),
        "teams": [dict(_TEAM)],
        "platforms": [project.platform] if project.platform else [],
        # Names only, and only visible ones: Sentry's ProjectSummarySerializer excludes hidden
        # EnvironmentProject rows (src/sentry/api/serializers/models/project.py).
        "environments": [env.name for env in project.environments if not env.is_hidden],
        "latestRelease": None,
    }
    rep.update(dict.fromkeys(_PROJECT_FLAGS, False))
    if not with_environments:
        del rep["environments"]
    return rep


def project_detail(world: SentryWorld, project: SentryProjectState) -> JSON:
    """The getProject response."""
    visible = [env.name for env in project.environments if not env.is_hidden]
    rep = project_summary(project)
    del rep["environments"], rep["hasUserReports"]
    rep.update(
        {
            "isInternal": False,
            "isPublic": False,
            "avatar": {"avatarType": "letter_avatar", "avatarUuid": None},
            "color": "#3f70bf",
            "status": "active",
            "options": {
                "sentry:scrub_data": project.scrubbing.data_scrubber,
                "sentry:scrub_defaults": project.scrubbing.data_scrubber_defaults,
            },
            "digestsMinDelay": 300,
            "digestsMaxDelay": 1800,
            "subjectPrefix": "",
            "allowedDomains": ["*"],
            "resolveAge": 0,
            "dataScrubber": project.scrubbing.data_scrubber,
            "dataScrubberDefaults": project.scrubbing.data_scrubber_defaults,
            "safeFields": list(project.scrubbing.safe_fields),
            "storeCrashReports": None,
            "sensitiveFields": list(project.scrubbing.sensitive_fields),
            "subjectTemplate": "$shortID - $title",
            "securityToken": "0" * 32,
            "securityTokenHeader": None,
            "verifySSL": False,
            "scrubIPAddresses": project.scrubbing.scrub_ip_addresses,
            "scrapeJavaScript": True,
            "enableAutoReleaseCreation": True,
            "highlightTags": [],
            "highlightContext": {},
            "highlightPreset": {"tags": [], "context": {}},
            "groupingConfig": "newstyle:2023-01-11",
            "derivedGroupingEnhancements": "",
            "groupingEnhancements": "",
            "secondaryGroupingExpiry": 0,
            "secondaryGroupingConfig": None,
            "fingerprintingRules": "",
            "organization": organization_summary(world),
            "processingIssues": 0,
            "defaultEnvironment": visible[0] if visible else None,
            "relayPiiConfig": project.scrubbing.relay_pii_config,
            "builtinSymbolSources": [],
            "dynamicSamplingBiases": None,
            "symbolSources": "[]",
            "isDynamicallySampled": False,
            "tempestFetchScreenshots": False,
            "autofixAutomationTuning": "off",
            "seerScannerAutomation": False,
            "seerNightshiftTweaks": None,
            "scmSourceContextEnabled": False,
            "debugFilesRole": None,
        }
    )
    return rep


def organization_summary(world: SentryWorld) -> JSON:
    """The organization embedded in getProject."""
    return {
        "id": world.organization_id,
        "slug": world.organization,
        "status": {"id": "active", "name": "active"},
        "name": world.organization_name,
        "dateCreated": "2020-01-01T00:00:00.000000Z",
        "isEarlyAdopter": False,
        "allowMemberInvite": True,
        "allowMemberProjectCreation": True,
        "allowSuperuserAccess": False,
        "require2FA": False,
        "avatar": {"avatarType": "letter_avatar", "avatarUuid": None},
        "features": [],
        "links": {
            "organizationUrl": f"https://{world.organization}.sentry.io",
            "regionUrl": "https://us.sentry.io",
        },
        "hasAuthProvider": False,
    }


def organization_detail(world: SentryWorld) -> JSON:
    """The getOrganization response; the scrubbing settings only when the scenario shows them (sentry-api.md §11)."""
    rep = organization_summary(world)
    rep.update({"access": list(_SCOPES_SEEN_BY_MEMBER), "onboardingTasks": [], "extraOptions": {}})
    settings = world.organization_scrubbing
    if settings is not None:
        rep.update(
            {
                "dataScrubber": settings.data_scrubber,
                "dataScrubberDefaults": settings.data_scrubber_defaults,
                "sensitiveFields": list(settings.sensitive_fields),
                "safeFields": list(settings.safe_fields),
                "scrubIPAddresses": settings.scrub_ip_addresses,
                "relayPiiConfig": settings.relay_pii_config,
            }
        )
    return rep


def environment_item(env: SentryEnvironmentState, *, with_hidden_flag: bool = True) -> JSON:
    """An item of listProjectEnvironments (or, without `isHidden`, listOrganizationEnvironments)."""
    rep: JSON = {"id": env.id, "name": env.name}
    if with_hidden_flag:
        rep["isHidden"] = env.is_hidden
    return rep


def _tags(event: EventRecord) -> list[JSON]:
    return [{"key": key, "value": value} for key, value in event.tags]


def _exception_entry(event: EventRecord) -> JSON:
    frame = {
        "function": "handle_request",
        "module": "app.handlers",
        "filename": "app/handlers.py",
        "absPath": "/srv/app/handlers.py",
        "lineNo": 42,
        "colNo": None,
        "inApp": True,
        "context": [],
        "vars": None,
        "package": None,
        "platform": None,
        "instructionAddr": None,
        "symbolAddr": None,
        "trust": None,
        "symbol": None,
        "errors": None,
    }
    value = {
        "type": event.exception_type,
        "value": event.message,
        "module": None,
        "mechanism": {"type": "generic", "handled": True},
        "threadId": None,
        "rawStacktrace": None,
        "stacktrace": {"frames": [frame], "framesOmitted": None, "registers": None, "hasSystemFrames": False},
    }
    return {"type": "exception", "data": {"values": [value], "excOmitted": None, "hasSystemFrames": False}}


def event_simple(event: EventRecord) -> JSON:
    """An item of listProjectEvents without `full` (SimpleEventSerializer: no contexts)."""
    return {
        "id": event.event_id,
        "event.type": "error",
        "groupID": event.group_id,
        "eventID": event.event_id,
        "projectID": event.project_id,
        "message": event.title,
        "title": event.title,
        "location": "app/handlers.py",
        "culprit": "app.handlers in handle_request",
        "user": event.user,
        "tags": _tags(event),
        "platform": event.platform,
        "dateCreated": iso_utc(event.timestamp),
        "crashFile": None,
        "metadata": {"type": event.exception_type, "value": event.message},
    }


def event_detail(event: EventRecord, *, next_id: str | None = None, previous_id: str | None = None) -> JSON:
    """getProjectEvent (also listProjectEvents with `full=true`): the full EventSerializer shape."""
    rep = event_simple(event)
    del rep["event.type"]
    rep.update(
        {
            "type": "error",
            "dateReceived": iso_utc(event.received),
            "contexts": dict(event.contexts),
            "context": {},
            "size": 2048,
            "entries": [_exception_entry(event)],
            "dist": None,
            "sdk": {"name": f"sentry.{event.platform}", "version": "2.19.0"},
            "packages": {},
            "errors": [],
            "occurrence": None,
            "_meta": {
                "user": None,
                "context": None,
                "entries": {},
                "contexts": dict(event.contexts_meta) or None,
                "message": None,
                "packages": None,
                "tags": {},
                "sdk": None,
            },
            "fingerprints": [event.group_id],
            "groupingConfig": {"id": "newstyle:2023-01-11", "enhancements": ""},
            "release": None,
            "userReport": None,
            "sdkUpdates": [],
            "resolvedWith": [],
            "nextEventID": next_id,
            "previousEventID": previous_id,
        }
    )
    return rep


# Explore `errors` dataset fields the sandbox can answer, with their meta types (Sentry notes §4.3,
# field names unverified there; these are Discover's usual keys).
DISCOVER_FIELD_TYPES = {
    "id": "string",
    "timestamp": "date",
    "environment": "string",
    "project.id": "integer",
    "project": "string",
    "project.name": "string",
    "title": "string",
    "message": "string",
    "level": "string",
    "event.type": "string",
    "issue.id": "integer",
    "release": "string",
    "platform": "string",
}


def discover_value(event: EventRecord, name: str) -> Any:
    """One Explore column of an event; unknown names read as tags (null when absent)."""
    values: dict[str, Any] = {
        "id": event.event_id,
        "timestamp": event.timestamp.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "environment": event.environment,
        "project.id": int(event.project_id),
        "project": event.project_slug,
        "project.name": event.project_slug,
        "title": event.title,
        "message": event.title,
        "level": event.level,
        "event.type": "error",
        "issue.id": int(event.group_id),
        "release": event.release,
        "platform": event.platform,
    }
    if name in values:
        return values[name]
    tag = name[5:-1] if name.startswith("tags[") and name.endswith("]") else name
    return dict(event.tags).get(tag)


def discover_sort_key(event: EventRecord, name: str) -> Any:
    """A sortable value for an Explore column (timestamps compare as datetimes, nulls first)."""
    if name == "timestamp":
        return (1, event.timestamp)
    value = discover_value(event, name)
    return (0, "") if value is None else (1, value)
