"""Discovery proposes exact, aliased and similar matches, and never what validate would refuse."""

from __future__ import annotations

import pytest

from ld_sentry_cli.api_models import LdEnvironment, LdProject, SentryEnvironment, SentryProject
from ld_sentry_cli.discover import Confidence, SentryProjectFacts, could_match, discover, match_names, normalise
from ld_sentry_cli.models import ProjectMapping


def sentry(slug: str, *envs: str, hidden: tuple[str, ...] = (), name: str = "") -> SentryProjectFacts:
    environments = tuple(SentryEnvironment(e) for e in envs) + tuple(SentryEnvironment(e, True) for e in hidden)
    return SentryProjectFacts(SentryProject(id=str(abs(hash(slug)) % 1000), slug=slug, name=name or slug), environments)


def ld(key: str, *envs: str, name: str = "") -> LdProject:
    return LdProject(key, name or key, tuple(LdEnvironment(e, e.title()) for e in envs))


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("Shop_Frontend", "shop"),
        ("Web Store", "store"),
        ("Big Web Store", "big-web-store"),
        ("checkout-api", "checkout"),
        ("api-checkout", "checkout"),
        ("Mobile App", "mobile"),
        ("api", "api"),  # a lone affix is the name itself
        ("  shop..web ", "shop"),
        ("svc-payments-api", "payments"),  # both ends, so that it matches `svc-payments`
        ("svc-payments", "payments"),
        ("web-app", "web"),  # the last word left is kept
    ],
)
def test_normalise(name: str, normalised: str) -> None:
    assert normalise(name) == normalised


@pytest.mark.parametrize(
    ("ours", "theirs", "environment", "confidence"),
    [
        ("production", "production", True, Confidence.EXACT),
        ("Production", "production", True, Confidence.ALIAS),
        ("prod", "production", True, Confidence.ALIAS),
        ("stg", "staging", True, Confidence.ALIAS),
        ("qa", "test", True, Confidence.ALIAS),
        ("prod", "production", False, None),  # aliases are for environments only
        ("checkout-service", "checkout", False, Confidence.ALIAS),
        ("svc-payments-api", "svc-payments", False, Confidence.ALIAS),
        ("paymnets", "payments", False, Confidence.SIMILAR),
        ("billing", "shipping", False, None),
    ],
)
def test_match_names(ours: str, theirs: str, environment: bool, confidence: Confidence | None) -> None:
    found = match_names([ours], [theirs], environment=environment)
    assert (found.confidence if found else None) == confidence


def test_a_scenario_with_every_kind_of_match() -> None:
    sentry_projects = [
        sentry("web", "production", "staging"),  # exact project, exact and alias environments
        sentry("checkout-api", "prod"),  # normalised project, aliased environment
        sentry("paymnets", "production"),  # a typo: similar
        sentry("legacy", "production"),  # nothing like it in LaunchDarkly
        sentry("mobile", "production", "canary", hidden=("old",)),  # an environment LD lacks; a hidden one
        sentry("search", "production"),  # two LD projects match equally
    ]
    ld_projects = [
        ld("web", "production", "staging"),
        ld("checkout", "production"),
        ld("payments", "production"),
        ld("mobile", "production", "test"),
        ld("search-web", "production"),
        ld("search-api", "production"),
    ]
    report = discover(sentry_projects, ld_projects, mappings=[])
    found = {(p.mapping.sentry_project, p.mapping.sentry_environment): p for p in report.proposals}
    assert {pair: (p.mapping.ld_project, p.mapping.ld_environment, p.confidence) for pair, p in found.items()} == {
        ("web", "production"): ("web", "production", Confidence.EXACT),
        ("web", "staging"): ("web", "staging", Confidence.EXACT),
        ("checkout-api", "prod"): ("checkout", "production", Confidence.ALIAS),
        ("paymnets", "production"): ("payments", "production", Confidence.SIMILAR),
        ("mobile", "production"): ("mobile", "production", Confidence.EXACT),
    }
    assert found[("checkout-api", "prod")].reason == (
        "project 'checkout-api' ~ 'checkout' (same name once normalised); "
        "environment 'prod' ~ 'production' (environment alias)"
    )
    assert found[("paymnets", "production")].reason == (
        "project 'paymnets' ≈ 'payments' (88% alike); environment 'production' = 'production'"
    )
    assert [(u.sentry_project, u.sentry_environment, u.reason) for u in report.unmatched] == [
        ("legacy", "production", "no LaunchDarkly project has a matching name"),
        ("mobile", "canary", "LaunchDarkly project 'mobile' has no environment like 'canary'"),
        ("search", "production", "ambiguous: search-api, search-web match equally (alias)"),
    ]
    assert report.hidden == (("mobile", "old"),)
    assert report.unused_ld == (("mobile", "test"), ("search-web", "production"), ("search-api", "production"))
    assert [p.mapping.sentry_project for p in report.at_least(Confidence.ALIAS)] == [
        "web",
        "web",
        "checkout-api",
        "mobile",
    ]


def test_mapped_pairs_get_no_proposal_and_count_as_used() -> None:
    existing = [ProjectMapping("web", "production", "web", "production")]
    report = discover([sentry("web", "production", "staging")], [ld("web", "production", "staging")], existing)
    assert [(p.mapping.sentry_environment, p.mapping.ld_environment) for p in report.proposals] == [
        ("staging", "staging")
    ]
    assert report.already_mapped == 1
    assert report.unused_ld == ()


def test_a_project_already_mapped_keeps_to_its_launchdarkly_project_whatever_the_names() -> None:
    existing = [ProjectMapping("web-frontend", "production", "default", "production")]
    sentry_projects = [sentry("web-frontend", "production", "staging")]
    ld_projects = [ld("default", "production", "staging"), ld("web", "production", "staging")]
    report = discover(sentry_projects, ld_projects, existing)
    assert [(p.mapping, p.confidence, p.reason) for p in report.proposals] == [
        (
            ProjectMapping("web-frontend", "staging", "default", "staging"),
            Confidence.EXACT,
            "project 'web-frontend' is already mapped to 'default'; environment 'staging' = 'staging'",
        )
    ]


def test_could_match_says_which_projects_are_worth_reading_hidden_environments_for() -> None:
    ld_projects = [ld("checkout", "production"), ld("default", "production")]
    existing = [ProjectMapping("web", "production", "default", "production")]
    assert could_match(sentry("checkout-api").project, ld_projects, [])
    assert could_match(sentry("web").project, ld_projects, existing)
    assert not could_match(sentry("web").project, ld_projects, [])
    assert not could_match(sentry("legacy").project, ld_projects, existing)
    # Only a hidden name that an environment of the candidate would take makes reading it worthwhile.
    assert could_match(sentry("checkout-api").project, ld_projects, [], ["prod"])
    assert not could_match(sentry("checkout-api").project, ld_projects, [], ["old", "canary"])
