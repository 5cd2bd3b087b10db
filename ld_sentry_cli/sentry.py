"""Sentry REST API client: token scopes, projects, environments and recent error events.

Raw JSON stops here: every method returns frozen dataclasses from models.py. Facts:
docs/sentry-api.md (paths live under /api/0/ and end with a slash, §2).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from ld_sentry_cli.api_models import SentryAuth, SentryEnvironment, SentryEvent, SentryProject
from ld_sentry_cli.errors import ApiError, MissingTokenError, NotFoundError, UsageError
from ld_sentry_cli.http import (
    ApiSession,
    Headers,
    Params,
    ParamValue,
    RateLimiter,
    ServiceConventions,
    SessionOptions,
    check_token_text,
    epoch_seconds,
    resolve_base_url,
)
from ld_sentry_cli.parsing import event_environment, parse_iso_ms
from ld_sentry_cli.secrets import register_secret

SERVICE = "Sentry"
DEFAULT_BASE_URL = "https://sentry.io"
TOKEN_ENV_VAR = "SENTRY_AUTH_TOKEN"  # noqa: S105 (a variable name, not a secret)
BASE_URL_ENV_VAR = "SENTRY_URL"  # sentry-cli's names (sentry-api.md §9)
ORG_ENV_VAR = "SENTRY_ORG"
URL_SETTING = "SENTRY_URL or [sentry] base_url"
PER_PAGE_MAX = 100  # the documented default and maximum (sentry-api.md §3, §5)
EVENT_DETAIL_RATE = 5.0  # getProjectEvent allows ~5 requests/s (sentry-api.md §4.3)

_SCOPES_HINT = (
    "Create an internal integration (Settings → Developer Settings → Custom Integrations → "
    "Internal Integration) with org:read, project:read and event:read, and set SENTRY_AUTH_TOKEN "
    "to its token."
)
_HINTS = {
    401: "Check SENTRY_AUTH_TOKEN: it must be a valid internal integration or personal token.",
    403: "The Sentry token needs the org:read, project:read and event:read scopes.",
}


def _error_message(body: Any) -> str | None:
    """The message of a Sentry error body: `{"detail": "..."}` or `{"detail": {"message": ..., "code": ...}}`."""
    detail = body.get("detail") if isinstance(body, Mapping) else None
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, Mapping) and isinstance(detail.get("message"), str):
        return str(detail["message"])
    return None


def _rate_limit_reset(headers: Headers) -> float | None:
    """When a 429's window resets: `X-Sentry-Rate-Limit-Reset`, epoch seconds (sentry-api.md §6)."""
    return epoch_seconds(headers.get("x-sentry-rate-limit-reset"))


CONVENTIONS = ServiceConventions(
    name=SERVICE,
    url_setting=URL_SETTING,
    error_message=_error_message,
    rate_limit_reset=_rate_limit_reset,
    hints=_HINTS,
)


async def paginate(
    session: ApiSession,
    path: str,
    *,
    params: Params | None = None,
    items_key: str | None = None,
    max_items: int | None = None,
    max_pages: int = 1000,
) -> list[Any]:
    """Collect a Sentry collection: follow `Link: rel="next"` while `results="true"` (sentry-api.md §5).

    The cursor is opaque and re-sent as `cursor=` on the same path, so the token never follows a
    link to another host. Stops once `max_items` are collected.
    """
    items: list[Any] = []
    query: dict[str, ParamValue] = dict(params or {})
    for _ in range(max_pages):
        response = await session.request("GET", path, params=query)
        body = response.body
        page = body.get(items_key) if items_key and isinstance(body, dict) else body
        if not isinstance(page, list):
            raise ApiError(f"{SERVICE} sent a response that is not a list (GET {path})")
        items.extend(page)
        if max_items is not None and len(items) >= max_items:
            return items[:max_items]
        cursor = _next_cursor(response.links.get("next"))
        if cursor is None or cursor == query.get("cursor"):
            return items
        query["cursor"] = cursor
    raise ApiError(f"{SERVICE} returned more than {max_pages} pages for GET {path}")


def _next_cursor(link: Mapping[str, str] | None) -> str | None:
    """The cursor of the `rel="next"` link when it says `results="true"`; Sentry always sends a next link."""
    if link is None or link.get("results", "").lower() != "true":
        return None
    cursor = link.get("cursor")
    if not cursor:
        values = parse_qs(urlsplit(link.get("url", "")).query).get("cursor")
        cursor = values[0] if values else None
    return cursor or None


def sentry_token(environ: Mapping[str, str] | None = None) -> str:
    """The auth token from SENTRY_AUTH_TOKEN (registered as a secret); organization tokens are refused."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV_VAR, "").strip()
    if not token:
        raise MissingTokenError("No Sentry auth token: set SENTRY_AUTH_TOKEN.", _SCOPES_HINT)
    check_token_kind(token)
    return token


def check_token_kind(token: str) -> None:
    """Refuse organization tokens (`sntrys_`): their only scope, org:ci, reads nothing ldsentry needs (§1)."""
    register_secret(token)
    check_token_text(token, TOKEN_ENV_VAR)
    if token.startswith("sntrys_"):
        raise MissingTokenError(
            "SENTRY_AUTH_TOKEN is a Sentry organization token (sntrys_…), which only carries the org:ci "
            "scope; ldsentry cannot read projects, environments or events with it.",
            _SCOPES_HINT,
        )


def sentry_base_url(
    config_value: str | None = None,
    *,
    explicit: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The base URL: explicit > SENTRY_URL > `[sentry] base_url` > https://sentry.io."""
    env = os.environ if environ is None else environ
    candidates = (explicit, env.get(BASE_URL_ENV_VAR), config_value)
    return resolve_base_url(candidates, DEFAULT_BASE_URL, service=SERVICE, setting=URL_SETTING)


def sentry_organization(
    config_value: str | None = None,
    *,
    explicit: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The organization slug: explicit > `[sentry] organization` > SENTRY_ORG."""
    env = os.environ if environ is None else environ
    for candidate in (explicit, config_value, env.get(ORG_ENV_VAR)):
        if candidate and candidate.strip():
            return candidate.strip()
    raise UsageError("No Sentry organization: set [sentry] organization in the configuration or SENTRY_ORG.")


def _segment(value: str) -> str:
    return quote(value, safe="")


def _object(payload: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise ApiError(f"{SERVICE} sent {what} that is not a JSON object.")
    return payload


def _id_string(value: Any) -> str | None:
    # Ids are strings in the REST API but integers in webhooks (§7); accept both.
    if isinstance(value, bool):
        return None
    if isinstance(value, (str, int)) and str(value):
        return str(value)
    return None


def parse_auth(payload: Any) -> SentryAuth:
    """The API root's scopes and user email; `user` is null for integration tokens (sentry-api.md §1)."""
    root = _object(payload, "an API root")
    auth = root.get("auth")
    scopes = auth.get("scopes") if isinstance(auth, Mapping) else None
    user = root.get("user")
    email = user.get("email") if isinstance(user, Mapping) else None
    return SentryAuth(
        scopes=tuple(s for s in scopes if isinstance(s, str)) if isinstance(scopes, list) else (),
        user_email=email if isinstance(email, str) else None,
    )


def parse_project(payload: Any) -> SentryProject:
    """A project: numeric id (as a string), slug, name, and the environment names a project list carries."""
    project = _object(payload, "a project")
    project_id = _id_string(project.get("id"))
    slug = project.get("slug")
    if project_id is None or not isinstance(slug, str) or not slug:
        raise ApiError(f"{SERVICE} sent a project without an id or slug.")
    name = project.get("name")
    names = project.get("environments")
    environments = tuple(n for n in names if isinstance(n, str)) if isinstance(names, list) else None
    return SentryProject(
        id=project_id, slug=slug, name=name if isinstance(name, str) else slug, environments=environments
    )


def parse_environment(payload: Any) -> SentryEnvironment:
    """A project environment with its hidden flag."""
    env = _object(payload, "an environment")
    name = env.get("name")
    if not isinstance(name, str):
        raise ApiError(f"{SERVICE} sent an environment without a name.")
    return SentryEnvironment(name=name, is_hidden=env.get("isHidden") is True)


class SentryClient:
    """Typed access to the Sentry REST endpoints ldsentry uses, for one organization."""

    def __init__(
        self,
        token: str,
        organization: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        options: SessionOptions | None = None,
        event_detail_rate: float | None = EVENT_DETAIL_RATE,
    ) -> None:
        check_token_kind(token)
        self.organization = organization
        self.session = ApiSession(
            base_url,
            conventions=CONVENTIONS,
            auth_header="Authorization",
            auth_value=f"Bearer {token}",  # sentry-api.md §1
            options=options,
        )
        # None disables pacing (tests); the limiter shares the session's injectable sleep and clock.
        self._event_limiter: RateLimiter | None = (
            self.session.rate_limiter(event_detail_rate) if event_detail_rate else None
        )
        self._projects: list[SentryProject] | None = None

    @classmethod
    def from_env(
        cls,
        *,
        base_url: str | None = None,
        organization: str | None = None,
        config_base_url: str | None = None,
        config_organization: str | None = None,
        environ: Mapping[str, str] | None = None,
        options: SessionOptions | None = None,
        event_detail_rate: float | None = EVENT_DETAIL_RATE,
    ) -> SentryClient:
        """Build a client from the environment and config (precedence as documented on each helper)."""
        url = sentry_base_url(config_base_url, explicit=base_url, environ=environ)
        org = sentry_organization(config_organization, explicit=organization, environ=environ)
        return cls(sentry_token(environ), org, base_url=url, options=options, event_detail_rate=event_detail_rate)

    @property
    def base_url(self) -> str:
        """The base URL in use."""
        return self.session.base_url

    async def __aenter__(self) -> SentryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session."""
        await self.session.aclose()

    @property
    def _org(self) -> str:
        return _segment(self.organization)

    async def auth_info(self) -> SentryAuth:
        """The token's scopes from the API root `GET /api/0/` (not in the OpenAPI document, §1)."""
        return parse_auth(await self.session.get_json("/api/0/"))

    async def list_projects(self, refresh: bool = False) -> list[SentryProject]:
        """Every project of the organization (fetched once per client, then reused unless refresh)."""
        if self._projects is None or refresh:
            items = await paginate(
                self.session, f"/api/0/organizations/{self._org}/projects/", params={"per_page": PER_PAGE_MAX}
            )
            self._projects = [parse_project(item) for item in items]
        return list(self._projects)

    async def list_environments(self, project_slug: str) -> list[SentryEnvironment] | None:
        """All environments of a project, hidden ones included; None when the project does not exist."""
        try:
            body = await self.session.get_json(
                f"/api/0/projects/{self._org}/{_segment(project_slug)}/environments/",
                params={"visibility": "all"},  # the default, "visible", omits hidden ones (§3)
            )
        except NotFoundError:
            return None
        if not isinstance(body, list):
            raise ApiError(f"{SERVICE} sent environments that are not a list (project {project_slug!r}).")
        return [parse_environment(item) for item in body]

    async def hidden_environment_names(self) -> frozenset[str]:
        """Names of the environments hidden in at least one project of the organization (sentry-api.md §3)."""
        body = await self.session.get_json(
            f"/api/0/organizations/{self._org}/environments/", params={"visibility": "hidden"}
        )
        if not isinstance(body, list):
            raise ApiError(f"{SERVICE} sent organization environments that are not a list.")
        return frozenset(
            item["name"] for item in body if isinstance(item, Mapping) and isinstance(item.get("name"), str)
        )

    async def project_id(self, project_slug_or_id: str) -> str:
        """The numeric id of a project given its slug (or its id); NotFoundError when unknown."""
        if project_slug_or_id.isdigit():
            return project_slug_or_id
        for project in await self.list_projects():
            if project.slug == project_slug_or_id:
                return project.id
        raise NotFoundError(
            f"Sentry organization {self.organization!r} has no project {project_slug_or_id!r}.",
            "Check the project slug in the [[mapping]] tables against Sentry's project settings.",
        )

    async def list_error_event_ids(
        self, project_slug_or_id: str, environment: str, stats_period: str = "24h", limit: int = 100
    ) -> list[str]:
        """Ids of the newest error events of one project+environment (Explore query, sentry-api.md §4.3).

        Raises NotFoundError when Sentry answers 404, which it does for an environment name it has
        never seen in the organization (§3), so callers can say the environment is missing rather
        than that it is quiet. The project is resolved first, so an unknown project raises too.
        """
        if limit <= 0:
            return []
        project_id = await self.project_id(project_slug_or_id)
        params: dict[str, ParamValue] = {
            "dataset": "errors",
            "field": ["id", "timestamp"],
            "environment": environment,
            "project": project_id,
            "statsPeriod": stats_period,
            "sort": "-timestamp",
            "per_page": min(limit, PER_PAGE_MAX),
        }
        rows = await paginate(
            self.session, f"/api/0/organizations/{self._org}/events/", params=params, items_key="data", max_items=limit
        )
        ids = [row.get("id") for row in rows if isinstance(row, Mapping)]
        return [event_id for event_id in ids if isinstance(event_id, str) and event_id]

    async def get_event(self, project_slug: str, event_id: str) -> SentryEvent:
        """One event with its contexts; paced to the endpoint's ~5 requests/s."""
        body = await self.session.get_json(
            f"/api/0/projects/{self._org}/{_segment(project_slug)}/events/{_segment(event_id)}/",
            limiter=self._event_limiter,
        )
        return self.parse_event(body, project_slug)

    def parse_event(self, payload: Any, project_slug: str) -> SentryEvent:
        """An event detail: id, project id, environment (top level or tag), time, contexts and web URL."""
        event = _object(payload, "an event")
        event_id = event.get("eventID") or event.get("event_id") or event.get("id")
        if not isinstance(event_id, str) or not event_id:
            raise ApiError(f"{SERVICE} sent an event without an id.")
        contexts = event.get("contexts")
        web_url = event.get("web_url") or event.get("webUrl")
        if not isinstance(web_url, str):
            web_url = self._event_web_url(project_slug, event_id, _id_string(event.get("groupID")))
        return SentryEvent(
            event_id=event_id,
            project_id=_id_string(event.get("projectID") or event.get("project")),
            environment=event_environment(event),
            web_url=web_url,
            timestamp_ms=parse_iso_ms(event.get("dateCreated")) or parse_iso_ms(event.get("datetime")),
            contexts=dict(contexts) if isinstance(contexts, Mapping) else {},
        )

    def _event_web_url(self, project_slug: str, event_id: str, group_id: str | None) -> str:
        # The UI link of an event: under its issue when known, else the Discover event view.
        base = f"{self.base_url}/organizations/{self._org}"
        if group_id:
            return f"{base}/issues/{_segment(group_id)}/events/{_segment(event_id)}/"
        return f"{base}/discover/{_segment(project_slug)}:{_segment(event_id)}/"
