"""Propose mappings from what both services have: Sentry projects+environments matched to LaunchDarkly's by name.

Pure: the caller fetches both sides and the config; this module only matches. A proposal is never
something `validate` would refuse: a Sentry project+environment already mapped gets none, a hidden
Sentry environment is listed apart, and only LaunchDarkly environments that exist are named.
"""

from __future__ import annotations

import difflib
import enum
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ld_sentry_cli.api_models import LdEnvironment, LdProject, SentryEnvironment, SentryProject
from ld_sentry_cli.models import ProjectMapping


class Confidence(enum.IntEnum):
    """How a name was matched; higher is surer. `--min-confidence` compares these."""

    SIMILAR = 1  # spelled alike (a similarity ratio), the last resort
    ALIAS = 2  # the same after normalising, or a known environment alias such as prod/production
    EXACT = 3  # the very same key, slug or name

    @property
    def label(self) -> str:
        """The lower-case name used in tables, JSON and the `--min-confidence` option."""
        return self.name.lower()


# Words that name a part of a service rather than the service: `shop-web` and `shop-api` are `shop`.
_AFFIXES = ("web", "api", "service", "svc", "app", "frontend", "backend", "server", "client")
# Environment names that mean the same stage.
_ENVIRONMENT_ALIASES = (
    frozenset({"prod", "production", "prd", "live"}),
    frozenset({"stg", "stage", "staging"}),
    frozenset({"dev", "development", "develop"}),
    frozenset({"qa", "test", "testing"}),
)
SIMILARITY_THRESHOLD = 0.8  # below this, two names are not proposed as a match
_SEPARATORS = re.compile(r"[\s_\-.]+")


@dataclass(frozen=True)
class NameMatch:
    """How two names matched, and the words that say so."""

    confidence: Confidence
    reason: str


@dataclass(frozen=True)
class SentryProjectFacts:
    """A Sentry project with its environments, as discovery reads them."""

    project: SentryProject
    environments: tuple[SentryEnvironment, ...]


@dataclass(frozen=True)
class Proposal:
    """One proposed mapping with its confidence (the weaker of the project's and the environment's) and why."""

    mapping: ProjectMapping
    confidence: Confidence
    reason: str


@dataclass(frozen=True)
class Unmatched:
    """A Sentry project+environment with no proposal, and why."""

    sentry_project: str
    sentry_environment: str
    reason: str


@dataclass(frozen=True)
class DiscoverReport:
    """What discovery found: proposals, Sentry pairs left unmatched or hidden, LaunchDarkly environments unused."""

    proposals: tuple[Proposal, ...]
    unmatched: tuple[Unmatched, ...]
    hidden: tuple[tuple[str, str], ...]  # (Sentry project, environment) pairs that Sentry hides
    already_mapped: int
    unused_ld: tuple[tuple[str, str], ...]  # (LaunchDarkly project, environment) pairs no proposal or mapping uses

    def at_least(self, confidence: Confidence) -> tuple[Proposal, ...]:
        """The proposals at or above a confidence."""
        return tuple(p for p in self.proposals if p.confidence >= confidence)


@functools.lru_cache(maxsize=4096)
def normalise(name: str) -> str:
    """Lower case, separators folded to `-`, and a trailing and a leading part-of-service word dropped.

    Both ends, each once, so that names sharing a prefix word compare alike: `svc-payments-api` and
    `svc-payments` are both `payments` (dropping only one word, from either end, made them differ).
    """
    words = [word for word in _SEPARATORS.split(name.strip().lower()) if word]
    if len(words) > 1 and words[-1] in _AFFIXES:
        words = words[:-1]
    if len(words) > 1 and words[0] in _AFFIXES:
        words = words[1:]
    return "-".join(words)


def _similar(left: str, right: str) -> float:
    """The similarity ratio, or 0 when difflib's cheap upper bounds already fall below the threshold.

    Every Sentry name meets every LaunchDarkly name, so the bounds (as `difflib.get_close_matches`
    uses them) keep discovery fast in large organizations.
    """
    matcher = difflib.SequenceMatcher(None, left, right)
    if matcher.real_quick_ratio() < SIMILARITY_THRESHOLD or matcher.quick_ratio() < SIMILARITY_THRESHOLD:
        return 0.0
    return matcher.ratio()


def match_names(sentry_names: Sequence[str], ld_names: Sequence[str], *, environment: bool) -> NameMatch | None:
    """The best way any Sentry name (slug, name) matches any LaunchDarkly name (key, name), or None."""
    best: NameMatch | None = None
    for ours in sentry_names:
        for theirs in ld_names:
            found = _match_one(ours, theirs, environment=environment)
            if found is not None and (best is None or found.confidence > best.confidence):
                best = found
    return best


def _match_one(ours: str, theirs: str, *, environment: bool) -> NameMatch | None:
    if ours == theirs:
        return NameMatch(Confidence.EXACT, f"{ours!r} = {theirs!r}")
    left, right = normalise(ours), normalise(theirs)
    if left and left == right:
        return NameMatch(Confidence.ALIAS, f"{ours!r} ~ {theirs!r} (same name once normalised)")
    if environment and any(left in group and right in group for group in _ENVIRONMENT_ALIASES):
        return NameMatch(Confidence.ALIAS, f"{ours!r} ~ {theirs!r} (environment alias)")
    ratio = _similar(left, right)
    if ratio >= SIMILARITY_THRESHOLD:
        return NameMatch(Confidence.SIMILAR, f"{ours!r} ≈ {theirs!r} ({ratio:.0%} alike)")
    return None


def _best(candidates: Iterable[tuple[NameMatch, str]]) -> tuple[NameMatch, str] | str | None:
    """The single best candidate, an 'ambiguous' reason when several tie at the top, or None."""
    ranked = sorted(candidates, key=lambda item: item[0].confidence, reverse=True)
    if not ranked:
        return None
    top = ranked[0][0].confidence
    tied = [name for match, name in ranked if match.confidence == top]
    if len(tied) > 1:
        return f"ambiguous: {', '.join(sorted(tied))} match equally ({top.label})"
    return ranked[0]


def discover(
    sentry_projects: Sequence[SentryProjectFacts],
    ld_projects: Sequence[LdProject],
    mappings: Sequence[ProjectMapping],
) -> DiscoverReport:
    """Match every unmapped, visible Sentry project+environment to at most one LaunchDarkly environment."""
    mapped = {m.sentry_pair for m in mappings}
    used_ld = {(m.ld_project, m.ld_environment) for m in mappings}
    proposals: list[Proposal] = []
    unmatched: list[Unmatched] = []
    hidden: list[tuple[str, str]] = []
    already = 0
    by_key = {ld.key: ld for ld in ld_projects}
    for facts in sentry_projects:
        project = facts.project
        chosen = _project_match(project, ld_projects, mappings)
        for env in facts.environments:
            pair = (project.slug, env.name)
            if pair in mapped:
                already += 1
                continue
            if env.is_hidden:
                hidden.append(pair)
                continue
            if chosen is None or isinstance(chosen, str):
                unmatched.append(Unmatched(*pair, chosen or "no LaunchDarkly project has a matching name"))
                continue
            project_match, ld_key = chosen
            proposal = _environment_proposal(project.slug, env.name, project_match, by_key[ld_key])
            if isinstance(proposal, str):
                unmatched.append(Unmatched(*pair, proposal))
            else:
                proposals.append(proposal)
                used_ld.add((proposal.mapping.ld_project, proposal.mapping.ld_environment))
    unused = tuple(
        (ld.key, env.key) for ld in ld_projects for env in ld.environments if (ld.key, env.key) not in used_ld
    )
    return DiscoverReport(tuple(proposals), tuple(unmatched), tuple(hidden), already, unused)


def _names(key: str, name: str) -> list[str]:
    """The names a project or environment answers to: its key (slug), and its display name when that differs."""
    return [key, *([name] if name and name != key else [])]


def _project_match(
    project: SentryProject, ld_projects: Sequence[LdProject], mappings: Sequence[ProjectMapping]
) -> tuple[NameMatch, str] | str | None:
    """The LaunchDarkly project for a Sentry project: the one its mappings already use, else the best name match.

    A Sentry project whose other environments are mapped to one LaunchDarkly project keeps to it,
    however unlike the names are (`web-frontend` mapped to `default`).
    """
    existing = {m.ld_project for m in mappings if m.sentry_project == project.slug}
    known = {ld.key for ld in ld_projects}
    if len(existing) == 1 and (key := next(iter(existing))) in known:
        return NameMatch(Confidence.EXACT, f"{project.slug!r} is already mapped to {key!r}"), key
    names = _names(project.slug, project.name)
    return _best(
        (found, ld.key)
        for ld in ld_projects
        if (found := match_names(names, [ld.key, ld.name], environment=False)) is not None
    )


def could_match(
    project: SentryProject,
    ld_projects: Sequence[LdProject],
    mappings: Sequence[ProjectMapping],
    environments: Iterable[str] | None = None,
) -> bool:
    """Whether a LaunchDarkly project could take this Sentry project's environments (any, or one of these names).

    Discovery reads a project's hidden environments only when one of the organization's hidden names
    would have been proposed there; elsewhere a hidden environment changes nothing.
    """
    chosen = _project_match(project, ld_projects, mappings)
    if not isinstance(chosen, tuple):
        return False
    if environments is None:
        return True
    ld_project = next(ld for ld in ld_projects if ld.key == chosen[1])
    return any(_environment_match(name, env) is not None for name in environments for env in ld_project.environments)


def _environment_proposal(
    sentry_project: str, sentry_environment: str, project_match: NameMatch, ld_project: LdProject
) -> Proposal | str:
    """The proposal for one Sentry environment within a matched project pair, or why there is none."""
    candidates = (
        (found, env.key)
        for env in ld_project.environments
        if (found := _environment_match(sentry_environment, env)) is not None
    )
    chosen = _best(candidates)
    if chosen is None:
        return f"LaunchDarkly project {ld_project.key!r} has no environment like {sentry_environment!r}"
    if isinstance(chosen, str):
        return chosen
    env_match, ld_env = chosen
    mapping = ProjectMapping(sentry_project, sentry_environment, ld_project.key, ld_env)
    confidence = min(project_match.confidence, env_match.confidence)
    reason = f"project {project_match.reason}; environment {env_match.reason}"
    return Proposal(mapping, confidence, reason)


def _environment_match(sentry_environment: str, env: LdEnvironment) -> NameMatch | None:
    return match_names([sentry_environment], _names(env.key, env.name), environment=True)
