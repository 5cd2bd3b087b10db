""" "Did you mean" suggestions."""

from __future__ import annotations

import pytest

from ld_sentry_cli.suggest import did_you_mean, suggest

ENVIRONMENTS = ["production", "staging", "test", "Preview"]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("Production", "production"),  # case differs
        ("PRODUCTION", "production"),
        ("preview", "Preview"),
        ("prod", "production"),  # prefix
        ("stag", "staging"),
        ("staging-eu", "staging"),  # candidate is a prefix of the word
        ("producton", "production"),  # typo (difflib)
        ("tset", "test"),
        ("Stagin", "staging"),  # typo and case
        ("qa", None),
        ("development", None),
        ("", None),
    ],
)
def test_suggest(word: str, expected: str | None) -> None:
    assert suggest(word, ENVIRONMENTS) == expected


def test_short_prefixes_do_not_count() -> None:
    # "pr" is a prefix of both; two letters say too little to pick one.
    assert suggest("pr", ["production", "preview"]) is None


def test_the_word_itself_is_never_suggested() -> None:
    assert suggest("web", ["web"]) is None
    assert suggest("web", ["web", "Web"]) == "Web"


def test_no_candidates() -> None:
    assert suggest("web", []) is None
    assert did_you_mean("web", []) == ""


def test_prefix_matches_prefer_the_closest() -> None:
    assert suggest("web", ["web-frontend", "web-api"]) == "web-api"


def test_candidates_may_be_any_iterable() -> None:
    assert suggest("api", iter(["apis", "web"])) == "apis"
    assert suggest("ap1", {"api": 1, "web": 2}) == "api"


def test_did_you_mean_wording() -> None:
    assert did_you_mean("prodution", ENVIRONMENTS) == " (did you mean 'production'?)"
    assert did_you_mean("qa", ENVIRONMENTS) == ""
