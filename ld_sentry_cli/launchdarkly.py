"""LaunchDarkly REST API v2 client: projects, environments, metrics and caller identity.

Raw JSON stops here: every method returns frozen dataclasses from models.py, and SDK keys
(`apiKey`, `mobileKey`) are dropped at the boundary. Facts: docs/launchdarkly-api.md.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from ld_sentry_cli.api_models import LdCaller, LdEnvironment, LdMetric, LdProject
from ld_sentry_cli.constants import LD_TOKEN_ENV_VARS
from ld_sentry_cli.errors import ApiError, MissingTokenError, NotFoundError, ServiceConflictError
from ld_sentry_cli.filter_choice import FilterChoice, FilterVerdict
from ld_sentry_cli.http import (
    ApiSession,
    Headers,
    Params,
    ServiceConventions,
    SessionOptions,
    check_token_text,
    epoch_seconds,
    resolve_base_url,
)
from ld_sentry_cli.models import MetricSettings
from ld_sentry_cli.secrets import register_secret
from ld_sentry_cli.tasks import run_all

SERVICE = "LaunchDarkly"
DEFAULT_BASE_URL = "https://app.launchdarkly.com"
API_VERSION = "20240415"  # pinned on every request (launchdarkly-api.md §0 "Version header")
BASE_URL_ENV_VAR = "LD_BASE_URI"  # ldcli's name (launchdarkly-api.md §5.1)
URL_SETTING = "LD_BASE_URI or [launchdarkly] base_url"
METRICS_PAGE_LIMIT = 50  # the server's maximum for GET /metrics (§1.1); never ask for more
PAGE_LIMIT = 20  # projects and environments: the documented default, no maximum published (§2.2, §2.3)
# Project keys are letters, digits, dots, underscores and hyphens; anything else stays out of `filter=keys:`.
_FILTERABLE_KEY = re.compile(r"[A-Za-z0-9._-]+")

logger = logging.getLogger("ldsentry.launchdarkly")
_Page = tuple[list[Any], Any, int | None]  # one page of an offset collection: items, `totalCount`, next offset

_NEW_CREDENTIAL_HINT = (
    "Create a personal or service access token (api-…) in LaunchDarkly under Organization settings → "
    "Authorization; a Reader role is enough to check, creating metrics needs Writer."
)
_HINTS = {
    401: "Check LD_ACCESS_TOKEN (or LAUNCHDARKLY_ACCESS_TOKEN): it must be a valid access token (api-…).",
    403: "The access token's role does not allow this; reading needs Reader, creating metrics needs Writer.",
}


def _error_message(body: Any) -> str | None:
    """The message of a LaunchDarkly error body, `{code, message}` (launchdarkly-api.md §0 "Error body")."""
    if not isinstance(body, Mapping):
        return None
    message, code = body.get("message"), body.get("code")
    if not isinstance(message, str) or not message:
        return None
    return f"{message} ({code})" if isinstance(code, str) and code else message


def _rate_limit_reset(headers: Headers) -> float | None:
    """When a 429's limit resets: `X-Ratelimit-Reset`, or the per-token `X-Ratelimit-Auth-Token-Reset`.

    Both are epoch milliseconds (launchdarkly-api.md §3); newer API versions report a per-token limit in
    the second "instead of" the first, so when both come the later one is the safe wait.
    """
    resets = [epoch_seconds(headers.get(name)) for name in ("x-ratelimit-reset", "x-ratelimit-auth-token-reset")]
    known = [reset for reset in resets if reset is not None]
    return max(known) if known else None


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
    page_size: int,
    params: Params | None = None,
    start_offset: int = 0,
    max_pages: int = 1000,
) -> list[Any]:
    """Collect a LaunchDarkly collection with `limit`/`offset` paging (launchdarkly-api.md §0, §1.1).

    Stops when `totalCount` is reached, on an empty page, or (without `totalCount`) on a short page.
    Advances by the items actually received, so a server capping `limit` below `page_size` loses
    nothing; `_links.next.href` supplies the next offset when present. `limit` is never above `page_size`.
    """
    first = await _offset_page(session, path, params, page_size, start_offset)
    return await _continue_pages(
        session, path, first, page_size=page_size, params=params, offset=start_offset, max_pages=max_pages
    )


async def _continue_pages(
    session: ApiSession,
    path: str,
    first: _Page,
    *,
    page_size: int,
    params: Params | None,
    offset: int,
    max_pages: int = 1000,
) -> list[Any]:
    """The items of `first`, the page at `offset`, and of every page after it."""
    items: list[Any] = []
    page, total, linked = first
    for number in range(max_pages):
        if number:
            page, total, linked = await _offset_page(session, path, params, page_size, offset)
        items.extend(page)
        next_offset = offset + len(page)
        if linked is not None and linked > offset:
            next_offset = linked
        if not page:
            return items
        if isinstance(total, int):
            if next_offset >= total:
                return items
            if number == 0 and len(page) == page_size and next_offset == offset + page_size:
                # The server honours `limit` and told us the total: the remaining pages do not depend
                # on each other, so fetch them at once (bounded by the session's concurrency) rather
                # than one round trip after another.
                rest = range(next_offset, total, page_size)
                if len(rest) >= max_pages:
                    break
                pages = await asyncio.gather(*(_offset_page(session, path, params, page_size, start) for start in rest))
                return items + [item for more, _, _ in pages for item in more]
        elif len(page) < page_size and linked is None:
            return items
        offset = next_offset
    raise ApiError(f"{SERVICE} returned more than {max_pages} pages for GET {path}")


async def _offset_page(session: ApiSession, path: str, params: Params | None, page_size: int, offset: int) -> _Page:
    """One page of an offset collection: its items, `totalCount` and the `_links.next` offset."""
    body = await session.get_json(path, params={**(params or {}), "limit": page_size, "offset": offset})
    page = body.get("items") if isinstance(body, dict) else None
    if not isinstance(page, list):
        raise ApiError(f"{SERVICE} sent a collection without 'items' (GET {path})")
    return page, body.get("totalCount"), _next_link_offset(body)


def _keys_params(chunk: list[str]) -> dict[str, str]:
    """The projects list's query for one group of keys, environments embedded (launchdarkly-api.md §2.2)."""
    return {"filter": "keys:" + "|".join(chunk), "expand": "environments"}


def _page_keys(items: list[Any]) -> set[Any]:
    return {item.get("key") for item in items if isinstance(item, Mapping)}


def _all_have_event_key(items: list[Any], event_key: str) -> bool:
    return all(isinstance(item, Mapping) and item.get("eventKey") == event_key for item in items)


def _next_link_offset(body: Mapping[str, Any]) -> int | None:
    """The `offset` in a LaunchDarkly `_links.next.href`, if there is one."""
    links = body.get("_links")
    nxt = links.get("next") if isinstance(links, dict) else None
    href = nxt.get("href") if isinstance(nxt, dict) else None
    if not isinstance(href, str):
        return None
    values = parse_qs(urlsplit(href).query).get("offset")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


_BASE_URL_HINT = (
    "Not even the list of projects is found there. Set LD_BASE_URI (or [launchdarkly] base_url) to the "
    "address before /api/v2, for example https://app.launchdarkly.com."
)


def _wrong_base_url(error: NotFoundError) -> NotFoundError:
    """A 404 on the projects list itself: a missing project is a red row, but here no project can be found
    at all, so the base URL is wrong (a path prefix, say), as the Sentry side reports too."""
    return NotFoundError(f"The LaunchDarkly base URL looks wrong: {error.message}", _BASE_URL_HINT, 404)


class LdInstance(str, enum.Enum):
    """Which LaunchDarkly instance a base URL points at."""

    COMMERCIAL = "commercial"
    EU = "eu"
    FEDERAL = "federal"
    CUSTOM = "custom"


# Hosts per instance (launchdarkly-api.md §0 base URLs, §4.1 events base URIs).
_INSTANCE_HOSTS = {
    "app.launchdarkly.com": LdInstance.COMMERCIAL,
    "app.eu.launchdarkly.com": LdInstance.EU,
    "app.launchdarkly.us": LdInstance.FEDERAL,
}
_EVENTS_BASE_URLS = {
    LdInstance.COMMERCIAL: "https://events.launchdarkly.com",
    LdInstance.EU: "https://events.eu.launchdarkly.com",
    LdInstance.FEDERAL: "https://events.launchdarkly.us",
}


def launchdarkly_token(environ: Mapping[str, str] | None = None) -> str:
    """The access token from LD_ACCESS_TOKEN or LAUNCHDARKLY_ACCESS_TOKEN (registered as a secret)."""
    env = os.environ if environ is None else environ
    for name in LD_TOKEN_ENV_VARS:
        token = env.get(name, "").strip()
        if token:
            register_secret(token)
            check_token_text(token, name)
            if token.startswith(("sdk-", "mob-")):
                # SDK and mobile keys cannot call the REST API (launchdarkly-api.md §0 "Token format").
                raise MissingTokenError(
                    f"{name} holds an SDK or mobile key; the LaunchDarkly REST API needs an access token.",
                    _NEW_CREDENTIAL_HINT,
                )
            return token
    raise MissingTokenError(
        "No LaunchDarkly access token: set LD_ACCESS_TOKEN or LAUNCHDARKLY_ACCESS_TOKEN.",
        _NEW_CREDENTIAL_HINT,
    )


def launchdarkly_base_url(
    config_value: str | None = None,
    *,
    explicit: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The REST base URL: explicit > LD_BASE_URI > `[launchdarkly] base_url` > the commercial instance."""
    env = os.environ if environ is None else environ
    candidates = (explicit, env.get(BASE_URL_ENV_VAR), config_value)
    return resolve_base_url(candidates, DEFAULT_BASE_URL, service=SERVICE, setting=URL_SETTING)


def launchdarkly_instance(base_url: str) -> LdInstance:
    """Name the instance (commercial, eu, federal, or custom for anything else) from a base URL."""
    host = (urlsplit(base_url).hostname or "").lower()
    return _INSTANCE_HOSTS.get(host, LdInstance.CUSTOM)


def launchdarkly_events_base_url(base_url: str, configured: str | None = None) -> str:
    """The events base URL for an instance; custom and loopback hosts use the REST base URL itself."""
    if configured and configured.strip():
        return configured.strip().rstrip("/")
    return _EVENTS_BASE_URLS.get(launchdarkly_instance(base_url), base_url.rstrip("/"))


def metric_post_body(settings: MetricSettings) -> dict[str, Any]:
    """The `MetricPost` body for the Sentry errors metric (launchdarkly-api.md §1.3, §1.7), keys in stable order."""
    return {
        "key": settings.key,
        "name": settings.name,
        "description": settings.description,
        "kind": "custom",
        "eventKey": settings.event_key,
        "isNumeric": False,  # a conversion metric: the integration sends no value
        "unitAggregationType": settings.kind.unit_aggregation_type,
        # Terraform defaults custom metrics to HigherThanBaseline (§5.2); more errors must read as worse.
        "successCriteria": "LowerThanBaseline",
        # `randomizationUnits` is deprecated in favour of `analysisUnits` (§1.7); an older instance
        # that refuses the new name gets the old one on a retry (LaunchDarklyClient.create_metric).
        "analysisUnits": list(settings.units),
        # Units that sent no error count as 0, so the rate is over every exposed unit whatever the
        # server's default (Terraform 3.x sends it explicitly too, §1.7).
        "eventDefault": {"disabled": False, "value": 0},
        "tags": ["sentry"],
    }


def with_randomization_units(body: Mapping[str, Any]) -> dict[str, Any]:
    """The same body for an instance older than `analysisUnits`: the units under `randomizationUnits`."""
    return {("randomizationUnits" if key == "analysisUnits" else key): value for key, value in body.items()}


def _refuses_analysis_units(error: ApiError, body: Mapping[str, Any]) -> bool:
    # An instance that predates the rename answers 400 naming the field it does not know.
    return error.status == 400 and "analysisUnits" in body and "analysisunits" in error.message.lower()


def _segment(value: str) -> str:
    return quote(value, safe="")


def _object(payload: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise ApiError(f"{SERVICE} sent {what} that is not a JSON object.")
    return payload


def _key(payload: Mapping[str, Any], what: str) -> str:
    key = payload.get("key")
    if not isinstance(key, str) or not key:
        raise ApiError(f"{SERVICE} sent {what} without a key.")
    return key


def _opt_str(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    return value if isinstance(value, str) else None


def parse_environment(payload: Any) -> LdEnvironment:
    """An environment reduced to key and name: `apiKey` and `mobileKey` never leave this function."""
    env = _object(payload, "an environment")
    key = _key(env, "an environment")
    return LdEnvironment(key=key, name=_opt_str(env, "name") or key)


def _environment_items(value: Any) -> tuple[list[Any], int | None]:
    """Items and totalCount of an embedded environments value: a collection, or a list in old API versions."""
    if isinstance(value, list):
        return value, None
    if isinstance(value, Mapping):
        items = value.get("items")
        total = value.get("totalCount")
        return (items if isinstance(items, list) else []), (total if isinstance(total, int) else None)
    return [], None


def parse_project(payload: Any, environments: tuple[LdEnvironment, ...]) -> LdProject:
    """A project with the given environments (the caller collects them: the embedded list may be paged)."""
    project = _object(payload, "a project")
    key = _key(project, "a project")
    return LdProject(key=key, name=_opt_str(project, "name") or key, environments=environments)


def _strings(value: Any) -> tuple[str, ...] | None:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else None


def parse_metric(payload: Any) -> LdMetric:
    """A metric (`MetricListingRep`/`MetricRep`, launchdarkly-api.md §1.4, §1.7), unknown fields and values ignored.

    Enums are kept as the strings LaunchDarkly sent (`kind` trace, `unitAggregationType`
    count_distinct, or values newer still): grading decides what they mean, parsing never fails on them.
    """
    metric = _object(payload, "a metric")
    key = _key(metric, "a metric")
    # `analysisUnits` replaced `randomizationUnits` (§1.7); GET mirrors both, and the new name wins.
    units = _strings(metric.get("analysisUnits"))
    if units is None:
        units = _strings(metric.get("randomizationUnits"))
    source = metric.get("dataSource")
    source = source if isinstance(source, Mapping) else {}
    last_seen = metric.get("lastSeen")
    return LdMetric(
        key=key,
        name=_opt_str(metric, "name") or key,
        kind=_opt_str(metric, "kind") or "",
        event_key=_opt_str(metric, "eventKey"),
        is_numeric=metric.get("isNumeric") is True,
        success_criteria=_opt_str(metric, "successCriteria"),
        unit_aggregation_type=_opt_str(metric, "unitAggregationType"),
        archived=metric.get("archived") is True,
        last_seen=last_seen if isinstance(last_seen, int) and not isinstance(last_seen, bool) else None,
        analysis_units=units or (),
        data_source=_opt_str(source, "key") or None,
        data_source_environment=_opt_str(source, "environmentKey") or None,
    )


def parse_experiment_units(payload: Any) -> tuple[str, ...]:
    """The context kinds available for experiments (`RandomizationSettingsRep.randomizationUnits`, §1.7).

    Every listed kind counts as available: what `_hidden` means for a metric is not documented, and
    reading it as "unavailable" could only raise false alarms.
    """
    settings = _object(payload, "experimentation settings")
    units = settings.get("randomizationUnits")
    if not isinstance(units, list):
        return ()
    kinds = (unit.get("randomizationUnit") for unit in units if isinstance(unit, Mapping))
    return tuple(dict.fromkeys(kind for kind in kinds if isinstance(kind, str) and kind))


def parse_caller(payload: Any) -> LdCaller:
    """Caller identity (`CallerIdentityRep`); the spec has no member email, so it stays None unless sent."""
    caller = _object(payload, "a caller identity")
    return LdCaller(
        account_id=_opt_str(caller, "accountId"),
        token_name=_opt_str(caller, "tokenName"),
        token_kind=_opt_str(caller, "tokenKind") or _opt_str(caller, "authKind"),
        member_email=_opt_str(caller, "memberEmail"),
    )


def _is_duplicate_key_message(message: str) -> bool:
    # A duplicate metric key may come back as 400 "… already exists" instead of 409 (§1.3, §6).
    return "already exists" in message.lower()


class LaunchDarklyClient:
    """Typed access to the LaunchDarkly REST endpoints ldsentry uses."""

    def __init__(self, token: str, *, base_url: str = DEFAULT_BASE_URL, options: SessionOptions | None = None) -> None:
        self.session = ApiSession(
            base_url,
            conventions=CONVENTIONS,
            auth_header="Authorization",
            auth_value=token,  # the raw token, no "Bearer" (launchdarkly-api.md §0 "Auth header")
            headers={"LD-API-Version": API_VERSION},
            options=options,
        )
        self._units_field = "analysisUnits"  # until an older instance refuses it (create_metric)

    @classmethod
    def from_env(
        cls,
        *,
        base_url: str | None = None,
        config_base_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        options: SessionOptions | None = None,
    ) -> LaunchDarklyClient:
        """Build a client from the environment and config (token and base URL precedence as documented)."""
        url = launchdarkly_base_url(config_base_url, explicit=base_url, environ=environ)
        return cls(launchdarkly_token(environ), base_url=url, options=options)

    @property
    def base_url(self) -> str:
        """The REST base URL in use."""
        return self.session.base_url

    async def __aenter__(self) -> LaunchDarklyClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session."""
        await self.session.aclose()

    async def get_project(self, key: str) -> LdProject | None:
        """The project with all its environments, or None when it does not exist (404)."""
        try:
            body = await self.session.get_json(f"/api/v2/projects/{_segment(key)}", params={"expand": "environments"})
        except NotFoundError:
            return None
        return await self._with_all_environments(body)

    async def _with_all_environments(self, payload: Any) -> LdProject:
        """A project from its expanded payload; the rest of its environments are fetched only when incomplete."""
        project = _object(payload, "a project")
        key = _key(project, "a project")
        items, total = _environment_items(project.get("environments"))
        if total is not None and total > len(items):
            # The embedded collection is itself paginated (§2.1): fetch the rest by offset.
            items = items + await paginate(
                self.session,
                f"/api/v2/projects/{_segment(key)}/environments",
                page_size=PAGE_LIMIT,
                start_offset=len(items),
            )
        seen: dict[str, LdEnvironment] = {}
        for item in items:
            env = parse_environment(item)
            seen.setdefault(env.key, env)
        return parse_project(project, tuple(seen.values()))

    async def get_projects(
        self, keys: Sequence[str], choice: FilterChoice | None = None
    ) -> dict[str, LdProject | None]:
        """Projects by key with all their environments (None: no such project), through the list's `keys` filter.

        `GET /api/v2/projects?filter=keys:a|b|c&expand=environments` (launchdarkly-api.md §2.2), a page at
        a time, instead of one request per project; a project the answer leaves out does not exist. Keys
        go in groups of one page, so the groups need no round trip after another. A server that ignores
        the filter (it sends projects nobody asked for) or refuses it gets one request per project instead.
        """
        choice = choice or FilterChoice("keys")
        wanted = list(dict.fromkeys(keys))
        # A key with the filter's own separators (never valid in LaunchDarkly, but config is user text)
        # could only widen the filter: ask for it on its own.
        alone = [key for key in wanted if not _FILTERABLE_KEY.fullmatch(key)]
        groups = [key for key in wanted if key not in alone]
        found: dict[str, LdProject | None] = {}

        async def group(chunk: list[str]) -> list[str]:
            # Only the first page waits for its turn; paging on and completing environments need no verdict.
            async with choice.turn() as use_filter:
                probed = await self._first_filtered_page(chunk, choice) if use_filter else None
            if probed is None:
                return chunk
            return await self._filtered_projects(chunk, *probed, found, set(wanted))

        chunks = [groups[start : start + PAGE_LIMIT] for start in range(0, len(groups), PAGE_LIMIT)]
        rests = await run_all(group(chunk) for chunk in chunks)
        # What an ignored filter's page already gave need not be asked again, whichever group asked.
        leftover = [key for key in alone + [key for rest in rests for key in rest] if key not in found]
        singles = await run_all(self.get_project(key) for key in leftover)
        found.update(zip(leftover, singles, strict=True))
        return {key: found.get(key) for key in wanted}

    async def _probe_filter(
        self,
        choice: FilterChoice,
        path: str,
        params: Params,
        *,
        page_size: int,
        honoured: Callable[[list[Any]], bool],
        fallback: str,
    ) -> tuple[_Page, bool] | None:
        """The first page of a filtered list and whether the server honoured the filter, recorded in `choice`.

        None when the server refused the filter (400): the caller reads the list the other way, `fallback`.
        """
        try:
            first = await _offset_page(self.session, path, params, page_size, 0)
        except ApiError as exc:
            if exc.status != 400:
                raise
            choice.record(FilterVerdict.REJECTED)
            logger.debug("%s refused filter=%s (%s); %s", SERVICE, choice.name, exc.message, fallback)
            return None
        kept = honoured(first[0])
        choice.record(FilterVerdict.HONOURED if kept else FilterVerdict.IGNORED)
        if not kept:
            logger.debug("%s ignored filter=%s; %s", SERVICE, choice.name, fallback)
        return first, kept

    async def _first_filtered_page(self, chunk: list[str], choice: FilterChoice) -> tuple[_Page, bool] | None:
        """The first page of the projects list filtered to `chunk`, and whether the filter was honoured."""
        try:
            return await self._probe_filter(
                choice,
                "/api/v2/projects",
                _keys_params(chunk),
                page_size=PAGE_LIMIT,
                honoured=lambda items: _page_keys(items) <= set(chunk),
                fallback="reading projects one at a time",
            )
        except NotFoundError as exc:
            raise _wrong_base_url(exc) from None

    async def _filtered_projects(
        self,
        chunk: list[str],
        first: _Page,
        honoured: bool,
        found: dict[str, LdProject | None],
        wanted: set[str],
    ) -> list[str]:
        """Read one group from its filtered first page into `found`; return the keys still to ask one by one."""
        asked = set(chunk)
        if not honoured:
            # Ignored: what it did send of ours (this group's or another's) is complete, not to be asked again.
            kept = [item for item in first[0] if isinstance(item, Mapping) and item.get("key") in wanted]
            for project in await run_all(self._with_all_environments(item) for item in kept):
                found[project.key] = project
            return [key for key in chunk if key not in found]
        path, params = "/api/v2/projects", _keys_params(chunk)
        items = await _continue_pages(self.session, path, first, page_size=PAGE_LIMIT, params=params, offset=0)
        projects = await run_all(self._with_all_environments(item) for item in items)
        for project in projects:
            if project.key in asked:
                found[project.key] = project
        for key in chunk:
            found.setdefault(key, None)
        return []

    async def list_projects(self) -> list[LdProject]:
        """Every project in the account, without environments (for "did you mean" suggestions)."""
        try:
            items = await paginate(self.session, "/api/v2/projects", page_size=PAGE_LIMIT)
        except NotFoundError as exc:
            raise _wrong_base_url(exc) from None
        return [parse_project(item, environments=()) for item in items]

    async def list_projects_with_environments(self) -> list[LdProject]:
        """Every project in the account with all its environments (`mappings discover`).

        The list embeds each project's first page of environments (`expand=environments`); only a
        project with more is asked for the rest, as `get_project` does (launchdarkly-api.md §2.1).
        """
        items = await paginate(
            self.session, "/api/v2/projects", page_size=PAGE_LIMIT, params={"expand": "environments"}
        )
        return await run_all(self._with_all_environments(item) for item in items)

    async def list_metrics(self, project_key: str, *, custom_only: bool = False) -> list[LdMetric]:
        """Every metric of a project, 50 per page; NotFoundError when the project does not exist."""
        params = {"filter": "eventKind equals custom"} if custom_only else None
        items = await paginate(
            self.session, f"/api/v2/metrics/{_segment(project_key)}", page_size=METRICS_PAGE_LIMIT, params=params
        )
        return [parse_metric(item) for item in items]

    async def list_event_metrics(
        self, project_key: str, event_key: str, choice: FilterChoice | None = None
    ) -> list[LdMetric]:
        """The project's metrics with `event_key`, or all its metrics; NotFoundError when the project does not exist.

        Asks with `filter=eventKeys anyOf ["<event key>"]` (launchdarkly-api.md §1.7): when every item
        has the event key, the filter was honoured and one request answers, whatever the number of
        metrics. A server that ignores it sends an ordinary first page, so full paging goes on from there
        at no extra cost; one that refuses it (400) is asked again without it. Callers must grade only
        the metrics with the event key: the others may or may not be in the list.
        """
        choice = choice or FilterChoice("eventKeys")
        path = f"/api/v2/metrics/{_segment(project_key)}"
        params = {"filter": f"eventKeys anyOf {json.dumps([event_key])}"}
        probed = None
        # Only the first request waits for its turn: the rest of a project's pages need no one's verdict.
        async with choice.turn() as use_filter:
            if use_filter:
                probed = await self._probe_filter(
                    choice,
                    path,
                    params,
                    page_size=METRICS_PAGE_LIMIT,
                    honoured=lambda items: _all_have_event_key(items, event_key),
                    fallback="paging through all metrics",
                )
        if probed is None:
            return await self.list_metrics(project_key)
        first, honoured = probed
        # An ignored filter's first page is the list's first page: go on from it unfiltered.
        items = await _continue_pages(
            self.session, path, first, page_size=METRICS_PAGE_LIMIT, params=params if honoured else None, offset=0
        )
        return [parse_metric(item) for item in items]

    async def experiment_units(self, project_key: str) -> tuple[str, ...] | None:
        """The context kinds available for experiments in a project (launchdarkly-api.md §1.7); None on 404."""
        try:
            body = await self.session.get_json(f"/api/v2/projects/{_segment(project_key)}/experimentation-settings")
        except NotFoundError:
            return None
        return parse_experiment_units(body)

    async def get_metric(self, project_key: str, metric_key: str) -> LdMetric | None:
        """One metric by metric key (not event key), or None when it does not exist."""
        try:
            body = await self.session.get_json(f"/api/v2/metrics/{_segment(project_key)}/{_segment(metric_key)}")
        except NotFoundError:
            return None
        return parse_metric(body)

    async def create_metric(self, project_key: str, body: Mapping[str, Any]) -> LdMetric:
        """Create a metric (never retried blindly: the caller re-checks before retrying); conflicts raise.

        An instance older than `analysisUnits` answers 400 naming it: the same body is sent once more
        with `randomizationUnits` (a 400 was not applied), and later creates in this client use that name.
        """
        if self._units_field == "randomizationUnits":
            body = with_randomization_units(body)
        try:
            return await self._post_metric(project_key, body)
        except ApiError as exc:
            if not _refuses_analysis_units(exc, body):
                raise
            logger.debug(
                "%s refused analysisUnits (%s), so it predates the rename; retrying once with randomizationUnits",
                SERVICE,
                exc.message,
            )
            self._units_field = "randomizationUnits"
            return await self._post_metric(project_key, with_randomization_units(body))

    async def _post_metric(self, project_key: str, body: Mapping[str, Any]) -> LdMetric:
        key = body.get("key")
        try:
            response = await self.session.request(
                "POST", f"/api/v2/metrics/{_segment(project_key)}", json_body=dict(body), retry=False
            )
        except (ServiceConflictError, ApiError) as exc:
            duplicate = isinstance(exc, ServiceConflictError) or (
                exc.status == 400 and _is_duplicate_key_message(exc.message)
            )
            if not duplicate:
                raise
            raise ServiceConflictError(
                f"LaunchDarkly project {project_key!r} already has a metric with key {key!r}.",
                "Re-read the project's metrics to see how the existing metric is configured.",
                status=exc.status,
            ) from None
        return parse_metric(response.body)

    async def caller_identity(self) -> LdCaller:
        """Who the access token belongs to."""
        return parse_caller(await self.session.get_json("/api/v2/caller-identity"))
