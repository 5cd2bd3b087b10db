"""Sentry's scrubbing settings: parsed from the details endpoints; an organization that hides them is unknown."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx
from contracts import validate_all
from support import FakeTime

from ld_sentry_cli.errors import ApiError, AuthFailedError
from ld_sentry_cli.scrubbing import ScrubbingSettings
from ld_sentry_cli.sentry import SentryClient
from ld_sentry_cli.sentry_settings import ScrubbingReader, parse_scrubbing_settings

BASE = "https://sentry.io"
PROJECT = "/api/0/projects/acme/web/"
ORGANIZATION = "/api/0/organizations/acme/"
DETAILS = {
    "dataScrubber": True,
    "dataScrubberDefaults": False,
    "sensitiveFields": ["key", " ", 7],
    "safeFields": ["contexts.launchdarklyContext.kind"],
    "scrubIPAddresses": True,
    "relayPiiConfig": '{"applications": {}}',
}


def read(routes: dict[str, httpx.Response]) -> tuple[list[Any], list[httpx.Request]]:
    """Both reads against respx routes; returns their results (or errors) and the requests sent."""
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        for path, response in routes.items():
            router.get(path).mock(return_value=response)

        async def go() -> list[Any]:
            client = SentryClient("sntryu_test", "acme", options=FakeTime().options(), event_detail_rate=None)
            async with client:
                reader = ScrubbingReader(client.session, client.organization)
                results: list[Any] = []
                for call in (lambda: reader.project_settings("web"), reader.organization_settings):
                    try:
                        results.append(await call())
                    except ApiError as error:
                        results.append(error)
                return results

        results = asyncio.run(go())
        return results, [call.request for call in router.calls]


def test_both_levels_are_parsed_and_the_requests_follow_the_contract() -> None:
    results, requests = read(
        {PROJECT: httpx.Response(200, json=DETAILS), ORGANIZATION: httpx.Response(200, json=DETAILS)}
    )

    expected = ScrubbingSettings(
        data_scrubber=True,
        defaults=False,
        sensitive_fields=("key",),
        safe_fields=("contexts.launchdarklyContext.kind",),
        scrub_ip_addresses=True,
        advanced_rules='{"applications": {}}',
    )
    assert results == [expected, expected]
    assert [op.operation_id for op in validate_all("sentry", requests)] == ["getProject", "getOrganization"]


@pytest.mark.parametrize(
    "response",
    [httpx.Response(403, json={"detail": "You do not have permission"}), httpx.Response(200, json={"slug": "acme"})],
    ids=["forbidden", "members absent"],
)
def test_an_organization_that_does_not_show_its_settings_is_unknown(response: httpx.Response) -> None:
    results, _ = read({PROJECT: httpx.Response(200, json=DETAILS), ORGANIZATION: response})

    assert results[1] is None


def test_a_missing_project_is_none_and_details_without_settings_are_an_api_error() -> None:
    missing, _ = read({PROJECT: httpx.Response(404, json={"detail": "nope"}), ORGANIZATION: httpx.Response(403)})
    bare, _ = read({PROJECT: httpx.Response(200, json={"slug": "web"}), ORGANIZATION: httpx.Response(403)})

    assert missing[0] is None
    assert isinstance(bare[0], ApiError)
    assert bare[0].message == "Sentry sent project details without data scrubbing settings (project 'web')."


def test_a_rejected_token_is_still_an_error_for_the_organization() -> None:
    with pytest.raises(AuthFailedError):
        read({PROJECT: httpx.Response(200, json=DETAILS), ORGANIZATION: httpx.Response(401, json={"detail": "bad"})})


def test_parse_keeps_only_what_is_there() -> None:
    assert parse_scrubbing_settings({"sensitiveFields": ["a"]}) == ScrubbingSettings(sensitive_fields=("a",))
    assert parse_scrubbing_settings([]) is None
