"""The `events check` domain: sample recent error events per mapping and grade their LaunchDarkly context.

Custom contexts cannot be searched in Sentry (sentry-api.md §4.1), so each sampled event is fetched
in full: the event ids come from one Explore query per mapping (§4.3), then one detail request each.
The detail endpoint allows about 5 requests/s, so at most `concurrency` requests are in flight.
"""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol, TypeVar

from .api_models import SentryEvent, SentryProject
from .contexts import CONTEXT_NAME, ContextClass, ContextVerdict, classify
from .errors import NotFoundError, ServiceError
from .gather import Counter, ProgressCallback
from .grades import GradedReport, GradedRow
from .health import missing_sentry_environment, missing_sentry_project
from .models import ProjectMapping
from .problems import Problem, problem
from .scrubbing import Risk, ScrubbingAudit, ScrubbingSettings, ScrubbingSource, audit
from .tasks import run_all

T = TypeVar("T")

DEFAULT_SAMPLE_SIZE = 20
DEFAULT_STATS_PERIOD = "24h"
# Some errors happen before an application knows who the user is (start-up, health checks).
DEFAULT_MIN_USABLE = 0.9
DEFAULT_CONCURRENCY = 4
FLAGS_CONTEXT = "flags"  # Sentry's LaunchDarkly SDK integrations put evaluated flags here (sentry-api.md §12)


class EventSource(Protocol):
    """The Sentry client methods `events check` needs."""

    async def list_projects(self) -> list[SentryProject]:
        """Every project of the organization."""

    async def list_error_event_ids(self, project_id: str, environment: str, stats_period: str, limit: int) -> list[str]:
        """Ids of recent error events, newest first; raises NotFoundError for an unknown environment."""

    async def get_event(self, project_slug: str, event_id: str) -> SentryEvent:
        """One event with its contexts; raises NotFoundError when it is gone."""


@dataclass(frozen=True)
class EventsRow(GradedRow):
    """One mapping's sample: counts per context class, an example link per failing class, problems."""

    mapping: ProjectMapping
    sampled: int = 0
    usable: int = 0
    missing: int = 0
    misnamed: int = 0
    invalid: int = 0
    examples: Mapping[ContextClass, str] = field(default_factory=dict)  # web_url per non-usable class
    misnamed_names: tuple[str, ...] = ()
    invalid_reasons: Mapping[str, int] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    with_flags: int = 0  # sampled events that carry Sentry's `flags` context (evaluation tracking)
    scrubbing: ScrubbingAudit | None = None  # None: the settings were not read

    @property
    def usable_share(self) -> float | None:
        """Usable events over sampled events, or None when nothing was sampled."""
        return self.usable / self.sampled if self.sampled else None

    @property
    def flags_share(self) -> float | None:
        """Events carrying a `flags` context over sampled events (informational), or None when nothing was sampled."""
        return self.with_flags / self.sampled if self.sampled else None


@dataclass(frozen=True)
class EventsReport(GradedReport):
    """The `events check` result: one row per mapping."""

    stats_period: str
    sample_size: int
    min_usable: float
    rows: tuple[EventsRow, ...]
    notes: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class _Sample:
    verdicts: tuple[tuple[ContextVerdict, str | None], ...] = ()  # (verdict, web_url) in id order
    problems: tuple[Problem, ...] = ()
    contexts: tuple[Mapping[str, object], ...] = ()  # the launchdarklyContext objects, for the scrubbing audit
    with_flags: int = 0


def _row_problems(row: EventsRow, min_usable: float) -> list[Problem]:
    sampled = row.sampled
    found = []
    if row.missing:
        found.append(
            problem(
                "events_missing_context",
                f"{row.missing} of {sampled} sampled events have no '{CONTEXT_NAME}' context; set it "
                "with the Sentry SDK's set_context/setContext before errors are captured.",
            )
        )
    if row.misnamed:
        names = " or ".join(f"'{name}'" for name in row.misnamed_names)
        renames = " and ".join(f"'{name}' → '{CONTEXT_NAME}'" for name in row.misnamed_names)
        found.append(
            problem(
                "events_misnamed_context",
                f"{row.misnamed} of {sampled} sampled events name the context {names} instead of "
                f"'{CONTEXT_NAME}'; rename {renames} where the Sentry SDK sets it.",
            )
        )
    if row.invalid:
        ranked = sorted(row.invalid_reasons.items(), key=lambda item: (-item[1], item[0]))
        reason = ranked[0][0] if len(ranked) == 1 else f"most often {ranked[0][0]}"
        found.append(
            problem(
                "events_invalid_context",
                f"{row.invalid} of {sampled} sampled events have an invalid '{CONTEXT_NAME}': {reason}; "
                "fix the value the Sentry SDK sets.",
            )
        )
    share = row.usable_share
    if share is not None and share < min_usable:
        found.append(
            problem(
                "low_usable_share",
                f"Only {row.usable} of {sampled} sampled events ({share:.0%}) carry a usable "
                f"'{CONTEXT_NAME}', below the minimum of {min_usable:.0%}; LaunchDarkly ignores the others.",
            )
        )
    return found


def _member_list(risks: Sequence[Risk]) -> str:
    return "; ".join(f"'{risk.member}' by {risk.setting} ({risk.why})" for risk in risks)


def _fixes(risks: Sequence[Risk]) -> str:
    # "Remove 'plan' from them, or: <the safe field>" already says "<the safe field>": say it once.
    fixes = list(dict.fromkeys(risk.fix for risk in risks))
    return " ".join(fix for fix in fixes if not any(other != fix and other.endswith(fix) for other in fixes))


def scrubbing_problems(result: ScrubbingAudit, project_slug: str) -> list[Problem]:
    """`context_scrubbed` for kind/key seen filtered; `context_at_risk` for what the settings filter otherwise."""
    seen = [r for r in result.risks if r.seen and r.essential]
    rest = [r for r in result.risks if r not in seen]
    found = []
    if seen:
        found.append(
            problem(
                "context_scrubbed",
                f"Sentry's data scrubbing in project '{project_slug}' filtered the '{CONTEXT_NAME}' members "
                f"LaunchDarkly needs in sampled events: {_member_list(seen)}. {_fixes(seen)}",
            )
        )
    if rest:
        certain = all(r.certain for r in rest)
        verb = "filter" if certain else "may filter"
        found.append(
            problem(
                "context_at_risk",
                f"Under the current data scrubbing settings of project '{project_slug}', Sentry would {verb} "
                f"these '{CONTEXT_NAME}' members: {_member_list(rest)}. {_fixes(rest)}",
            )
        )
    return found


def _build_row(mapping: ProjectMapping, sample: _Sample, stats_period: str, min_usable: float) -> EventsRow:
    if sample.problems:
        return EventsRow(mapping, problems=sample.problems)
    if not sample.verdicts:
        return EventsRow(
            mapping,
            problems=(
                problem(
                    "no_events",
                    f"No error events in Sentry project '{mapping.sentry_project}' environment "
                    f"'{mapping.sentry_environment}' in the last {stats_period}; sample a longer period, "
                    "or send a test error to check the context.",
                ),
            ),
        )
    counts = Tally(verdict.context_class for verdict, _ in sample.verdicts)
    examples: dict[ContextClass, str] = {}
    for verdict, url in sample.verdicts:
        if verdict.context_class is not ContextClass.USABLE and url:
            examples.setdefault(verdict.context_class, url)
    misnamed = [v.name for v, _ in sample.verdicts if v.context_class is ContextClass.MISNAMED and v.name]
    reasons = Tally(v.reason for v, _ in sample.verdicts if v.context_class is ContextClass.INVALID)
    row = EventsRow(
        mapping,
        sampled=len(sample.verdicts),
        usable=counts[ContextClass.USABLE],
        missing=counts[ContextClass.MISSING],
        misnamed=counts[ContextClass.MISNAMED],
        invalid=counts[ContextClass.INVALID],
        examples=examples,
        misnamed_names=tuple(dict.fromkeys(misnamed)),
        invalid_reasons=dict(reasons),
        with_flags=sample.with_flags,
    )
    return replace(row, problems=tuple(_row_problems(row, min_usable)))


def _with_scrubbing(
    row: EventsRow,
    sample: _Sample,
    settings: ScrubbingSettings | ServiceError | None,
    organization: ScrubbingSettings | None,
) -> EventsRow:
    """The row with its scrubbing audit: settings apply even when no sampled event showed their effect yet."""
    if sample.problems:  # the project or environment is missing: nothing to audit
        return row
    slug = row.mapping.sentry_project
    if isinstance(settings, ServiceError):
        note = problem(
            "scrubbing_unchecked",
            f"The data scrubbing settings of Sentry project '{slug}' could not be read ({settings.message}); "
            "the token needs project:read.",
        )
        return replace(row, problems=(*row.problems, note))
    if settings is None:
        return row
    result = audit(settings, organization, sample.contexts, project_slug=slug)
    return replace(row, scrubbing=result, problems=(*row.problems, *scrubbing_problems(result, slug)))


class _Sampler:
    """Samples events for distinct Sentry project+environment pairs with bounded concurrency."""

    def __init__(
        self, source: EventSource, sample_size: int, stats_period: str, concurrency: int, counter: Counter
    ) -> None:
        self.source = source
        self.sample_size = sample_size
        self.stats_period = stats_period
        self.limit = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self.counter = counter

    async def request(self, call: Callable[[], Awaitable[T]]) -> T:
        # The call is made only once a slot is free, so a cancelled wait leaves no coroutine behind.
        async with self.limit:
            return await call()

    async def sample(self, project: SentryProject, environment: str) -> _Sample:
        try:
            ids = await self.request(
                partial(
                    self.source.list_error_event_ids,
                    project.id,
                    environment,
                    self.stats_period,
                    self.sample_size,
                )
            )
        except NotFoundError:
            # Sentry answers 404 for an environment name the organization has never seen (§3).
            self.counter.drop(self.sample_size)
            return _Sample(problems=(missing_sentry_environment(project.slug, environment, ()),))
        ids = ids[: self.sample_size]  # a full sample needs no more requests
        self.counter.drop(self.sample_size - len(ids))
        results: list[tuple[ContextVerdict, str | None] | None] = [None] * len(ids)
        pending = iter(range(len(ids)))

        async def worker() -> None:
            for index in pending:
                try:
                    event = await self.request(partial(self.source.get_event, project.slug, ids[index]))
                except NotFoundError:
                    pass  # deleted or not yet stored: the sample is one smaller
                else:
                    results[index] = (classify(event.contexts), event.web_url)
                    contexts[index] = event.contexts
                self.counter.advance()

        contexts: list[Mapping[str, object] | None] = [None] * len(ids)
        await run_all(worker() for _ in range(min(self.concurrency, len(ids))))
        fetched = [c for c in contexts if c is not None]
        return _Sample(
            tuple(result for result in results if result is not None),
            contexts=tuple(value for c in fetched if isinstance(value := c.get(CONTEXT_NAME), Mapping)),
            with_flags=sum(1 for c in fetched if isinstance(c.get(FLAGS_CONTEXT), Mapping)),
        )


async def audit_events(
    mappings: Sequence[ProjectMapping],
    source: EventSource,
    *,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    stats_period: str = DEFAULT_STATS_PERIOD,
    min_usable: float = DEFAULT_MIN_USABLE,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: ProgressCallback | None = None,
    scrubbing: ScrubbingSource | None = None,
) -> EventsReport:
    """Sample up to `sample_size` recent error events per mapping, grade their contexts and audit scrubbing.

    With a `scrubbing` source, each distinct Sentry project's settings are read once, and the
    organization's once per run.
    """
    pairs = list(dict.fromkeys(m.sentry_pair for m in mappings))
    # Units are events to fetch; pairs that turn out smaller or missing drop theirs from the total.
    counter = Counter(len(pairs) * sample_size, progress)
    sampler = _Sampler(source, sample_size, stats_period, max(1, concurrency), counter)
    organization: ScrubbingSettings | None = None
    if scrubbing is None:
        projects = {p.slug: p for p in await sampler.request(source.list_projects)}
    else:

        async def organization_settings() -> ScrubbingSettings | None:
            try:
                return await sampler.request(scrubbing.organization_settings)
            except ServiceError:  # unknown, as when Sentry does not show them: the note below says so
                return None

        listed = asyncio.ensure_future(sampler.request(source.list_projects))
        read_organization = asyncio.ensure_future(organization_settings())
        await run_all([listed, read_organization])
        projects, organization = {p.slug: p for p in listed.result()}, read_organization.result()

    async def sample(pair: tuple[str, str]) -> _Sample:
        slug, environment = pair
        project = projects.get(slug)
        if project is None:
            counter.drop(sample_size)
            return _Sample(problems=(missing_sentry_project(slug, projects),))
        return await sampler.sample(project, environment)

    async def settings(slug: str) -> ScrubbingSettings | ServiceError | None:
        if scrubbing is None:
            return None
        try:
            return await sampler.request(partial(scrubbing.project_settings, slug))
        except ServiceError as error:  # a permission or API problem: say so on the row, keep the sample
            return error

    # One sample per distinct Sentry pair and one settings read per distinct project, however many
    # mappings share them.
    slugs = [slug for slug in dict.fromkeys(slug for slug, _ in pairs) if slug in projects]
    sampled = asyncio.ensure_future(run_all(sample(pair) for pair in pairs))
    read = asyncio.ensure_future(run_all(settings(slug) for slug in slugs))
    await run_all([sampled, read])
    samples = dict(zip(pairs, sampled.result(), strict=True))
    project_settings = dict(zip(slugs, read.result(), strict=True))
    rows = tuple(
        _with_scrubbing(
            _build_row(m, samples[m.sentry_pair], stats_period, min_usable),
            samples[m.sentry_pair],
            project_settings.get(m.sentry_project),
            organization,
        )
        for m in mappings
    )
    notes: tuple[Problem, ...] = ()
    if scrubbing is not None and organization is None:
        notes = (
            problem(
                "scrubbing_unchecked",
                "Sentry did not show the organization's data scrubbing settings to this token, so only each "
                "project's own are audited; organization-wide sensitive fields may filter more.",
            ),
        )
    return EventsReport(stats_period, sample_size, min_usable, rows, notes)
