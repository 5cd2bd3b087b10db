"""`events check`: sampling, classification counts, problems and the exit-relevant `ok`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ld_sentry_cli.api_models import SentryEvent, SentryProject
from ld_sentry_cli.contexts import ContextClass
from ld_sentry_cli.errors import NotFoundError, PermissionDeniedError
from ld_sentry_cli.events_audit import EventsReport, EventsRow, audit_events
from ld_sentry_cli.grades import Status, Summary
from ld_sentry_cli.models import ProjectMapping
from ld_sentry_cli.problems import Problem, Severity, problem
from ld_sentry_cli.scrubbing import ScrubbingSettings

WEB = SentryProject("101", "web")
API = SentryProject("102", "api")
PROD = ProjectMapping("web", "production", "default", "production")

USABLE_CTX = {"launchdarklyContext": {"kind": "user", "key": "u1", "type": "default"}}
MISSING_CTX: dict[str, Any] = {"runtime": {"name": "CPython", "type": "runtime"}}
MISNAMED_CTX = {"ldContext": {"kind": "user", "key": "u1", "type": "default"}}
FILTERED_CTX = {"launchdarklyContext": {"kind": "user", "key": "[Filtered]", "type": "default"}}
EMPTY_KEY_CTX = {"launchdarklyContext": {"kind": "user", "key": "", "type": "default"}}


def event(event_id: str, contexts: dict[str, Any]) -> SentryEvent:
    return SentryEvent(
        event_id, "101", "production", f"https://acme.sentry.io/issues/1/events/{event_id}/", None, contexts
    )


class FakeSentry:
    """Implements events_audit.EventSource; records calls and the peak number of event fetches in flight."""

    def __init__(
        self,
        projects: list[SentryProject],
        events: dict[tuple[str, str], list[SentryEvent]],
        *,
        gone: frozenset[str] = frozenset(),
        ignore_limit: bool = False,
    ) -> None:
        self.projects = projects
        self.events = events  # by (project id, environment); unknown pairs answer 404
        self.by_id = {e.event_id: e for evs in events.values() for e in evs}
        self.gone = gone
        self.ignore_limit = ignore_limit
        self.calls: list[tuple[Any, ...]] = []
        self.in_flight = 0
        self.peak = 0

    async def list_projects(self) -> list[SentryProject]:
        self.calls.append(("list_projects",))
        return self.projects

    async def list_error_event_ids(self, project_id: str, environment: str, stats_period: str, limit: int) -> list[str]:
        self.calls.append(("list_error_event_ids", project_id, environment, stats_period, limit))
        if (project_id, environment) not in self.events:
            raise NotFoundError("Sentry has no environment by that name.", status=404)
        ids = [e.event_id for e in self.events[(project_id, environment)]]
        return ids if self.ignore_limit else ids[:limit]

    async def get_event(self, project_slug: str, event_id: str) -> SentryEvent:
        self.calls.append(("get_event", project_slug, event_id))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        if event_id in self.gone:
            raise NotFoundError("Event not found.", status=404)
        return self.by_id[event_id]

    def fetched(self) -> list[str]:
        return [call[2] for call in self.calls if call[0] == "get_event"]


def sample(*contexts: dict[str, Any]) -> list[SentryEvent]:
    return [event(f"e{i:02d}", c) for i, c in enumerate(contexts)]


def audit(source: FakeSentry, *mappings: ProjectMapping, **options: Any) -> EventsReport:
    return asyncio.run(audit_events(mappings or (PROD,), source, **options))


def only(report: EventsReport) -> EventsRow:
    assert len(report.rows) == 1
    return report.rows[0]


def test_all_usable_is_green() -> None:
    source = FakeSentry([WEB], {("101", "production"): sample(*[USABLE_CTX] * 4)})
    report = audit(source)
    row = only(report)
    assert (row.sampled, row.usable, row.missing, row.misnamed, row.invalid) == (4, 4, 0, 0, 0)
    assert row.usable_share == 1.0
    assert row.examples == {}
    assert row.problems == ()
    assert row.status is Status.GREEN
    assert report.summary == Summary(1, 1, 0, 0)
    assert report.ok(strict=True)
    assert (report.stats_period, report.sample_size, report.min_usable) == ("24h", 20, 0.9)


def test_mixed_sample_counts_examples_and_exact_messages() -> None:
    contexts = [USABLE_CTX] * 6 + [MISSING_CTX, MISNAMED_CTX, FILTERED_CTX, MISSING_CTX]
    source = FakeSentry([WEB], {("101", "production"): sample(*contexts)})
    report = audit(source)
    row = only(report)
    assert (row.sampled, row.usable, row.missing, row.misnamed, row.invalid) == (10, 6, 2, 1, 1)
    assert row.usable_share == 0.6
    assert row.examples == {
        ContextClass.MISSING: "https://acme.sentry.io/issues/1/events/e06/",
        ContextClass.MISNAMED: "https://acme.sentry.io/issues/1/events/e07/",
        ContextClass.INVALID: "https://acme.sentry.io/issues/1/events/e08/",
    }
    assert row.misnamed_names == ("ldContext",)
    assert row.invalid_reasons == {'key is "[Filtered]" (scrubbed by Sentry\'s data scrubbing)': 1}
    assert row.problems == (
        Problem(
            "events_missing_context",
            Severity.AMBER,
            "2 of 10 sampled events have no 'launchdarklyContext' context; set it with the Sentry SDK's "
            "set_context/setContext before errors are captured.",
        ),
        Problem(
            "events_misnamed_context",
            Severity.AMBER,
            "1 of 10 sampled events name the context 'ldContext' instead of 'launchdarklyContext'; rename "
            "'ldContext' → 'launchdarklyContext' where the Sentry SDK sets it.",
        ),
        Problem(
            "events_invalid_context",
            Severity.AMBER,
            "1 of 10 sampled events have an invalid 'launchdarklyContext': key is \"[Filtered]\" (scrubbed "
            "by Sentry's data scrubbing); fix the value the Sentry SDK sets.",
        ),
        Problem(
            "low_usable_share",
            Severity.RED,
            "Only 6 of 10 sampled events (60%) carry a usable 'launchdarklyContext', below the minimum of "
            "90%; LaunchDarkly ignores the others.",
        ),
    )
    assert row.status is Status.RED
    assert not report.ok()


def test_share_above_the_minimum_is_amber_only() -> None:
    source = FakeSentry([WEB], {("101", "production"): sample(*[USABLE_CTX] * 9, MISSING_CTX)})
    report = audit(source)
    row = only(report)
    assert row.usable_share == 0.9  # exactly the minimum is enough
    assert [p.code for p in row.problems] == ["events_missing_context"]
    assert row.status is Status.AMBER
    assert report.ok()
    assert not report.ok(strict=True)


def test_min_usable_is_configurable() -> None:
    source = FakeSentry([WEB], {("101", "production"): sample(USABLE_CTX, MISSING_CTX)})
    assert audit(source, min_usable=0.5).ok()
    row = only(audit(source, min_usable=0.75))
    assert row.problems[-1].message == (
        "Only 1 of 2 sampled events (50%) carry a usable 'launchdarklyContext', below the minimum of 75%; "
        "LaunchDarkly ignores the others."
    )


def test_several_misnamed_names_and_invalid_reasons() -> None:
    contexts = [
        {"launchdarkly": {"kind": "user", "key": "u1"}},
        MISNAMED_CTX,
        MISNAMED_CTX,
        EMPTY_KEY_CTX,
        FILTERED_CTX,
        FILTERED_CTX,
    ]
    row = only(audit(FakeSentry([WEB], {("101", "production"): sample(*contexts)})))
    assert row.misnamed_names == ("launchdarkly", "ldContext")
    messages = {p.code: p.message for p in row.problems}
    assert messages["events_misnamed_context"] == (
        "3 of 6 sampled events name the context 'launchdarkly' or 'ldContext' instead of "
        "'launchdarklyContext'; rename 'launchdarkly' → 'launchdarklyContext' and 'ldContext' → "
        "'launchdarklyContext' where the Sentry SDK sets it."
    )
    assert messages["events_invalid_context"] == (
        "3 of 6 sampled events have an invalid 'launchdarklyContext': most often key is \"[Filtered]\" "
        "(scrubbed by Sentry's data scrubbing); fix the value the Sentry SDK sets."
    )
    assert row.invalid_reasons == {
        "key is empty": 1,
        'key is "[Filtered]" (scrubbed by Sentry\'s data scrubbing)': 2,
    }


def test_no_events_in_the_window() -> None:
    report = audit(FakeSentry([WEB], {("101", "production"): []}), stats_period="7d")
    row = only(report)
    assert row.sampled == 0
    assert row.usable_share is None
    assert row.problems == (
        Problem(
            "no_events",
            Severity.RED,
            "No error events in Sentry project 'web' environment 'production' in the last 7d; sample a "
            "longer period, or send a test error to check the context.",
        ),
    )
    assert not report.ok()


def test_missing_sentry_project() -> None:
    source = FakeSentry([WEB, API], {})
    report = audit(source, ProjectMapping("wbe", "production", "default", "production"))
    assert only(report).problems == (
        Problem(
            "sentry_project_missing",
            Severity.RED,
            "Sentry project 'wbe' does not exist in the organization (did you mean 'web'?); fix "
            "`sentry_project` in the mapping.",
        ),
    )
    assert source.calls == [("list_projects",)]
    assert not report.ok()


def test_unknown_environment_answers_404() -> None:
    source = FakeSentry([WEB], {})
    row = only(audit(source))
    assert row.problems == (
        Problem(
            "sentry_environment_missing",
            Severity.RED,
            "Sentry project 'web' has no environment 'production'; fix `sentry_environment` in the mapping "
            "(Sentry creates an environment with its first event).",
        ),
    )


def test_requests_use_the_project_id_period_and_limit_then_stop_when_the_sample_is_full() -> None:
    events = sample(*[USABLE_CTX] * 8)
    source = FakeSentry([WEB], {("101", "production"): events}, ignore_limit=True)
    row = only(audit(source, sample_size=5, stats_period="1h"))
    assert source.calls[:2] == [
        ("list_projects",),
        ("list_error_event_ids", "101", "production", "1h", 5),
    ]
    assert source.fetched() == ["e00", "e01", "e02", "e03", "e04"]
    assert row.sampled == 5


def test_deleted_events_are_skipped() -> None:
    source = FakeSentry([WEB], {("101", "production"): sample(USABLE_CTX, MISSING_CTX)}, gone=frozenset({"e01"}))
    row = only(audit(source))
    assert (row.sampled, row.usable, row.missing) == (1, 1, 0)


def test_event_fetches_are_bounded() -> None:
    events = {
        ("101", "production"): sample(*[USABLE_CTX] * 20),
        ("102", "production"): [event(f"a{i}", USABLE_CTX) for i in range(20)],
    }
    source = FakeSentry([WEB, API], events)
    mappings = (PROD, ProjectMapping("api", "production", "backend", "production"))
    report = audit(source, *mappings, concurrency=3)
    assert [row.sampled for row in report.rows] == [20, 20]
    assert source.peak == 3


def test_mappings_sharing_a_sentry_pair_are_sampled_once() -> None:
    source = FakeSentry([WEB], {("101", "production"): sample(USABLE_CTX, MISSING_CTX)})
    other = ProjectMapping("web", "production", "mobile", "production")
    report = audit(source, PROD, other)
    assert [row.mapping for row in report.rows] == [PROD, other]
    assert report.rows[0].sampled == report.rows[1].sampled == 2
    assert len(source.fetched()) == 2
    assert sum(1 for call in source.calls if call[0] == "list_error_event_ids") == 1


def test_progress_counts_events_and_drops_what_is_not_needed() -> None:
    seen: list[tuple[int, int]] = []
    source = FakeSentry([WEB], {("101", "production"): sample(USABLE_CTX, USABLE_CTX, USABLE_CTX)})
    mappings = (PROD, ProjectMapping("ghost", "production", "default", "production"))
    asyncio.run(audit_events(mappings, source, sample_size=5, progress=lambda d, t: seen.append((d, t))))
    assert seen[0] == (0, 10)
    assert seen[-1] == (3, 3)
    assert all(done <= total for done, total in seen)


@pytest.mark.parametrize("concurrency", [0, 1])
def test_concurrency_of_at_least_one(concurrency: int) -> None:
    source = FakeSentry([WEB], {("101", "production"): sample(USABLE_CTX, USABLE_CTX)})
    assert only(audit(source, concurrency=concurrency)).sampled == 2
    assert source.peak == 1


def test_report_ok_counts_notes() -> None:
    report = EventsReport("24h", 20, 0.9, (), (problem("sentry_environment_hidden", "n"),))
    assert report.ok()
    assert not report.ok(strict=True)


class FakeSettings:
    """Implements scrubbing.ScrubbingSource; records which settings were read."""

    def __init__(self, projects: dict[str, Any], organization: Any = None) -> None:
        self.projects = projects  # a ScrubbingSettings, or an exception to raise
        self.organization = organization
        self.calls: list[str] = []

    async def project_settings(self, project_slug: str) -> Any:
        self.calls.append(project_slug)
        found = self.projects.get(project_slug)
        if isinstance(found, Exception):
            raise found
        return found

    async def organization_settings(self) -> Any:
        self.calls.append("<organization>")
        return self.organization


def test_scrubbing_settings_are_read_once_per_project_and_apply_without_samples() -> None:
    staging = ProjectMapping("web", "staging", "default", "staging")
    on_api = ProjectMapping("api", "production", "api", "production")
    api_events = [event("a00", USABLE_CTX), event("a01", {**USABLE_CTX, "flags": {"values": []}})]
    source = FakeSentry(
        [WEB, API],
        {("101", "production"): sample(FILTERED_CTX), ("101", "staging"): [], ("102", "production"): api_events},
    )
    settings = FakeSettings(
        {
            "web": ScrubbingSettings(sensitive_fields=("key",)),
            "api": PermissionDeniedError("You do not have permission", status=403),
        }
    )

    report = asyncio.run(audit_events([PROD, staging, on_api], source, sample_size=5, scrubbing=settings))

    assert sorted(settings.calls) == ["<organization>", "api", "web"]
    prod, stage, api = report.rows
    assert [p.code for p in prod.problems] == ["events_invalid_context", "low_usable_share", "context_scrubbed"]
    # No event in staging, but the settings would filter the key there too.
    assert [(p.code, p.severity) for p in stage.problems] == [
        ("no_events", Severity.RED),
        ("context_at_risk", Severity.AMBER),
    ]
    assert [(p.code, p.message) for p in api.problems] == [
        (
            "scrubbing_unchecked",
            "The data scrubbing settings of Sentry project 'api' could not be read (You do not have permission); "
            "the token needs project:read.",
        )
    ]
    assert (api.with_flags, api.flags_share) == (1, 0.5)
    assert [n.code for n in report.notes] == ["scrubbing_unchecked"]
