"""LaunchDarkly JSON representations (schemas `Project`, `Environment`, `MetricRep`, …).

Field names and required members follow launchdarkly-openapi.json; launchdarkly-api.md §1.4, §2
lists them. Links are relative hrefs, as the API writes them.
"""

from __future__ import annotations

import functools
import json
from typing import Any
from urllib.parse import quote, urlencode

import msgspec

from ld_sentry_cli.sandbox.durations import from_epoch_ms, iso_utc
from ld_sentry_cli.sandbox.ids import hex_id
from ld_sentry_cli.sandbox.ld_world import LdEnvironmentState, LdProjectState, LdWorld, MetricRecord
from ld_sentry_cli.sandbox.scenario import HOSTED_DATA_SOURCE, LdToken

JSON = dict[str, Any]

# Embedded collections (`expand=environments`) are paginated too; we show the first page only,
# like a collection fetched without `limit`, and clients page through /environments for the rest.
EMBEDDED_PAGE_SIZE = 20


def link(href: str) -> JSON:
    """A `Link` object."""
    return {"href": href, "type": "application/json"}


def page_links(path: str, params: dict[str, str], offset: int, limit: int, total: int) -> JSON:
    """`self` plus `first`/`prev`/`next`/`last` where those pages exist (getProjects description)."""

    def href(at: int) -> str:
        query = {**params, "limit": str(limit), "offset": str(at)}
        return f"{path}?{urlencode(query)}"

    links: JSON = {"self": link(href(offset))}
    last_offset = max(0, (total - 1) // limit * limit) if total else 0
    if offset > 0:
        links["first"] = link(href(0))
        links["prev"] = link(href(max(0, offset - limit)))
    if offset + limit < total:
        links["next"] = link(href(offset + limit))
        links["last"] = link(href(last_offset))
    return links


def environment_rep(project: LdProjectState, env: LdEnvironmentState) -> JSON:
    """An `Environment`, including the SDK and mobile keys the real API returns."""
    base = f"/api/v2/projects/{quote(project.key)}/environments/{quote(env.key)}"
    return {
        "_links": {"self": link(base)},
        "_id": env.id,
        "key": env.key,
        "name": env.name,
        "apiKey": env.api_key,
        "mobileKey": env.mobile_key,
        "color": env.color,
        "defaultTtl": 0,
        "secureMode": False,
        "defaultTrackEvents": False,
        "requireComments": env.critical,
        "confirmChanges": env.critical,
        "tags": list(env.tags),
        "critical": env.critical,
    }


def environments_collection(project: LdProjectState, offset: int, limit: int, params: dict[str, str]) -> JSON:
    """An `Environments` page."""
    items = project.environments[offset : offset + limit]
    path = f"/api/v2/projects/{quote(project.key)}/environments"
    return {
        "_links": page_links(path, params, offset, limit, len(project.environments)),
        "totalCount": len(project.environments),
        "items": [environment_rep(project, env) for env in items],
    }


def project_rep(project: LdProjectState, *, with_environments: bool) -> JSON:
    """A `Project`; environments only when expanded (omitted by default since API 20220603)."""
    base = f"/api/v2/projects/{quote(project.key)}"
    rep: JSON = {
        "_links": {"self": link(base), "environments": link(f"{base}/environments")},
        "_id": project.id,
        "key": project.key,
        "includeInSnippetByDefault": False,
        "defaultClientSideAvailability": {"usingMobileKey": False, "usingEnvironmentId": False},
        "name": project.name,
        "tags": list(project.tags),
    }
    if with_environments:
        rep["environments"] = environments_collection(project, 0, EMBEDDED_PAGE_SIZE, {})
    return rep


def json_bytes(value: Any) -> bytes:
    """JSON exactly as Starlette's JSONResponse renders it, so cached fragments splice in byte for byte."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")


# msgspec writes strings, ints, bools and null exactly as json.dumps does, several times faster;
# it differs on floats only (1e16 for 1e+16, null for NaN), and a MetricRep holds floats only in
# `urls` posted by a client.
_encode_without_floats = msgspec.json.Encoder().encode


def metric_json(project: LdProjectState, metric: MetricRecord) -> bytes:
    """A metric's `MetricRep` as JSON, built once per metric version and project state."""
    # Building and serialising the 50 metrics of a page was most of the emulator's work per
    # request. The key changes with any edit, so a created (new id) or edited metric never reads
    # a stale entry, and a reset starts from an empty cache with its new world.
    cache_key = (metric.id, metric.version, metric.archived)
    body = project.metric_json_cache.get(cache_key)
    if body is None:
        rep = metric_rep(project, metric)
        floats_possible = any(not isinstance(value, str) for url in metric.urls for value in url.values())
        body = json_bytes(rep) if floats_possible else _encode_without_floats(rep)
        project.metric_json_cache[cache_key] = body
    return body


def metrics_collection_json(
    project: LdProjectState, metrics: list[MetricRecord], offset: int, limit: int, params: dict[str, str]
) -> bytes:
    """A `Metrics` page as JSON: the cached items joined, members in the order the API sends them."""
    items = b",".join(metric_json(project, metric) for metric in metrics[offset : offset + limit])
    links = json_bytes(page_links(f"/api/v2/metrics/{project.key}", params, offset, limit, len(metrics)))
    return b'{"items":[%s],"_links":%s,"totalCount":%d}' % (items, links, len(metrics))


def metric_rep(project: LdProjectState, metric: MetricRecord) -> JSON:
    """A `MetricRep` (also used for list items: `MetricListingRep` has the same required members)."""
    parent = f"/api/v2/metrics/{_quote(project.key)}"
    quoted_key = _quote(metric.key)
    rep: JSON = {
        "experimentCount": 0,
        "metricGroupCount": 0,
        "activeExperimentCount": 0,
        "activeGuardedRolloutCount": 0,
        "_id": metric.id,
        "_versionId": metric.version_id,
        "_version": metric.version,
        "key": metric.key,
        "name": metric.name,
        "kind": metric.kind,
        "_attachedFlagCount": 0,
        "_links": {"parent": link(parent), "self": link(f"{parent}/{quoted_key}")},
        "_site": {"href": f"/experiments/metrics/{quoted_key}/edit", "type": "text/html"},
        "tags": list(metric.tags),
        "_creationDate": metric.created_ms,
        "lastModified": {"date": _ld_date(metric.created_ms)},
        "dataSource": _data_source(metric),
        "eventDefault": {"disabled": False, "value": 0},
        "archived": metric.archived,
    }
    optional: JSON = {
        "description": metric.description,
        "maintainerId": metric.maintainer_id,
        "isNumeric": metric.is_numeric,
        "eventKey": metric.event_key,
        "successCriteria": metric.success_criteria,
        "unit": metric.unit,
        "unitAggregationType": metric.unit_aggregation_type,
        "randomizationUnits": list(metric.randomization_units) if metric.kind == "custom" else None,
        # Newer instances mirror both names on GET (launchdarkly-api.md §1.7); older ones know only the first.
        "analysisUnits": list(metric.randomization_units)
        if metric.kind == "custom" and not project.older_instance
        else None,
        "analysisType": "mean" if metric.kind == "custom" else None,
        "lastSeen": metric.last_seen_ms,
        "archivedAt": metric.archived_at_ms,
        "selector": metric.selector,
        "urls": [dict(url) for url in metric.urls] or None,
    }
    rep.update({key: value for key, value in optional.items() if value is not None})
    return rep


def _data_source(metric: MetricRecord) -> JSON:
    """`MetricDataSourceRefRep`: LaunchDarkly-hosted events, or a warehouse named by the scenario."""
    if metric.data_source == HOSTED_DATA_SOURCE:
        return {"key": HOSTED_DATA_SOURCE, "_name": "LaunchDarkly"}
    source: JSON = {"key": metric.data_source, "_name": metric.data_source.replace("-", " ").title()}
    if metric.data_source_environment:
        source["environmentKey"] = metric.data_source_environment
    return source


def experimentation_settings_rep(project: LdProjectState) -> JSON:
    """A `RandomizationSettingsRep`: the context kinds available for experiments (launchdarkly-api.md §1.7)."""
    units = [
        {"randomizationUnit": kind, "default": position == 0, "_hidden": False, "_displayName": kind.title()}
        for position, kind in enumerate(project.experiment_units)
    ]
    base = f"/api/v2/projects/{quote(project.key)}/experimentation-settings"
    return {
        "_projectId": project.id,
        "_projectKey": project.key,
        "randomizationUnits": units,
        "_creationDate": project.created_ms,
        "_links": {"self": link(base)},
    }


# Seeded metrics repeat across projects (filler-metric-001 is created at the same hour in each),
# so these pure helpers, half the cost of building a MetricRep, mostly answer from their caches.
@functools.lru_cache(maxsize=4096)
def _quote(text: str) -> str:
    return quote(text)


@functools.lru_cache(maxsize=4096)
def _ld_date(epoch_milliseconds: int) -> str:
    return iso_utc(from_epoch_ms(epoch_milliseconds))


def caller_identity_rep(world: LdWorld, token: LdToken) -> JSON:
    """A `CallerIdentityRep` for an access token."""
    return {
        "accountId": world.account_id,
        "authKind": "token",
        "tokenKind": token.kind,
        "tokenName": token.name,
        "tokenId": hex_id("ld-token", token.name, token.member_id),
        "memberId": token.member_id,
        "serviceToken": token.kind == "service",
        "clientId": "",
    }
