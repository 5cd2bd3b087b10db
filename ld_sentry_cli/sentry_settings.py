"""Sentry's data scrubbing settings, read from the project and organization details (sentry-api.md §11).

A small client module beside sentry.py: it takes the SentryClient's session, so requests share its
connection pool, limits and retries. Raw JSON stops here: both answers become `ScrubbingSettings`.

The project's settings are in the public contract (`getProject`). The organization's are not: Sentry
adds them to the organization details only for some tokens, so a 403, a 404 or missing members mean
"unknown" (None), never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ld_sentry_cli.errors import ApiError, NotFoundError, PermissionDeniedError
from ld_sentry_cli.http import ApiSession
from ld_sentry_cli.scrubbing import ScrubbingSettings

_MEMBERS = ("dataScrubber", "dataScrubberDefaults", "sensitiveFields", "safeFields", "scrubIPAddresses")


def _flag(body: Mapping[str, Any], name: str) -> bool | None:
    value = body.get(name)
    return value if isinstance(value, bool) else None


def _names(body: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = body.get(name)
    if not isinstance(value, list):
        return ()
    return tuple(item.strip() for item in value if isinstance(item, str) and item.strip())


def parse_scrubbing_settings(payload: Any) -> ScrubbingSettings | None:
    """The scrubbing members of a project or organization details body; None when it has none of them."""
    if not isinstance(payload, Mapping) or not any(name in payload for name in (*_MEMBERS, "relayPiiConfig")):
        return None
    advanced = payload.get("relayPiiConfig")
    return ScrubbingSettings(
        data_scrubber=_flag(payload, "dataScrubber"),
        defaults=_flag(payload, "dataScrubberDefaults"),
        sensitive_fields=_names(payload, "sensitiveFields"),
        safe_fields=_names(payload, "safeFields"),
        scrub_ip_addresses=_flag(payload, "scrubIPAddresses"),
        advanced_rules=advanced if isinstance(advanced, str) and advanced.strip() else None,
    )


class ScrubbingReader:
    """Reads one organization's scrubbing settings: each project's, and the organization's own."""

    def __init__(self, session: ApiSession, organization: str) -> None:
        self.session = session
        self.organization = organization

    async def project_settings(self, project_slug: str) -> ScrubbingSettings | None:
        """`GET /api/0/projects/{org}/{project}/`'s scrubbing settings; None when the project does not exist."""
        org, project = quote(self.organization, safe=""), quote(project_slug, safe="")
        try:
            body = await self.session.get_json(f"/api/0/projects/{org}/{project}/")
        except NotFoundError:
            return None
        settings = parse_scrubbing_settings(body)
        if settings is None:
            raise ApiError(f"Sentry sent project details without data scrubbing settings (project {project_slug!r}).")
        return settings

    async def organization_settings(self) -> ScrubbingSettings | None:
        """`GET /api/0/organizations/{org}/`'s scrubbing settings, or None when Sentry does not show them."""
        try:
            body = await self.session.get_json(f"/api/0/organizations/{quote(self.organization, safe='')}/")
        except (PermissionDeniedError, NotFoundError):
            return None
        return parse_scrubbing_settings(body)
