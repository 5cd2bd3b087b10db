"""Classification of Sentry event contexts: a corpus of real-shaped `contexts` payloads."""

from __future__ import annotations

from typing import Any

import pytest

from ld_sentry_cli.contexts import CONTEXT_NAME, ContextClass, ContextVerdict, classify, context_keys

USABLE = ContextClass.USABLE
MISSING = ContextClass.MISSING
MISNAMED = ContextClass.MISNAMED
INVALID = ContextClass.INVALID

# Sentry's usual neighbours of a custom context in a stored event (sentry-api.md §4.1).
RUNTIME = {"runtime": {"name": "CPython", "version": "3.12.1", "type": "runtime"}}
TRACE = {"trace": {"trace_id": "4c79f60c11214eb38604f4ae0781bfb2", "span_id": "fa90fdead5f74052", "type": "trace"}}


def ld(value: Any, **neighbours: Any) -> dict[str, Any]:
    return {**RUNTIME, **TRACE, CONTEXT_NAME: value, **neighbours}


# (id, contexts, class, reason)
CORPUS: list[tuple[str, dict[str, Any] | None, ContextClass, str]] = [
    # --- usable ---------------------------------------------------------------------------------
    (
        "single-user-rest-type-default",
        ld({"kind": "user", "key": "user-123", "type": "default"}),
        USABLE,
        "single context of kind 'user'",
    ),
    (
        "single-user-relay-type-name",
        ld({"kind": "user", "key": "user-123", "type": "launchdarklyContext"}),
        USABLE,
        "single context of kind 'user'",
    ),
    (
        "single-with-attributes",
        ld(
            {
                "kind": "user",
                "key": "user-key-123abc",
                "name": "Sandy",
                "email": "s@example.com",
                "anonymous": False,
                "_meta": {"privateAttributes": ["email"]},
                "type": "default",
            }
        ),
        USABLE,
        "single context of kind 'user'",
    ),
    (
        "single-org-kind-dots-dashes",
        ld({"kind": "org.team-a_1", "key": "o1", "type": "default"}),
        USABLE,
        "single context of kind 'org.team-a_1'",
    ),
    (
        "single-deep-attribute-flattened-by-js",
        ld({"kind": "user", "key": "u1", "address": "[Object]", "roles": "[Array]", "type": "default"}),
        USABLE,
        "single context of kind 'user'",
    ),
    (
        "multi-rest",
        ld({"kind": "multi", "user": {"key": "u1"}, "org": {"key": "o1", "name": "Acme"}, "type": "default"}),
        USABLE,
        "multi context of kinds 'org', 'user'",
    ),
    (
        "multi-relay-type-name",
        ld({"kind": "multi", "user": {"key": "u1"}, "type": "launchdarklyContext"}),
        USABLE,
        "multi context of kinds 'user'",
    ),
    (
        "multi-member-with-meta",
        ld(
            {
                "kind": "multi",
                "user": {"key": "u1", "_meta": {"privateAttributes": ["email"]}, "email": "[Filtered]"},
                "device": {"key": "d-9"},
                "type": "default",
            }
        ),
        USABLE,
        "multi context of kinds 'device', 'user'",
    ),
    (
        "legacy-kindless-user",
        ld({"key": "user-123", "name": "Sandy", "type": "default"}),
        USABLE,
        "no kind: read as a legacy 'user' context",
    ),
    # --- missing --------------------------------------------------------------------------------
    ("missing-only-sdk-contexts", {**RUNTIME, **TRACE}, MISSING, "no 'launchdarklyContext' context"),
    ("missing-empty-contexts", {}, MISSING, "no 'launchdarklyContext' context"),
    ("missing-null-contexts", None, MISSING, "no 'launchdarklyContext' context"),
    (
        "missing-unrelated-flags-context",
        {**RUNTIME, "flags": {"values": [{"flag": "new-checkout", "result": True}], "type": "flags"}},
        MISSING,
        "no 'launchdarklyContext' context",
    ),
    # --- invalid --------------------------------------------------------------------------------
    (
        "invalid-key-filtered",
        ld({"kind": "user", "key": "[Filtered]", "type": "default"}),
        INVALID,
        'key is "[Filtered]" (scrubbed by Sentry\'s data scrubbing)',
    ),
    (
        "invalid-no-key",
        ld({"kind": "user", "name": "Sandy", "type": "default"}),
        INVALID,
        "no key",
    ),
    (
        "invalid-only-sentry-type",
        ld({"type": "default"}),
        INVALID,
        "no key",
    ),
    ("invalid-empty-key", ld({"kind": "user", "key": "", "type": "default"}), INVALID, "key is empty"),
    (
        "invalid-numeric-key",
        ld({"kind": "user", "key": 12345, "type": "default"}),
        INVALID,
        "key is a number, not a string",
    ),
    (
        "invalid-null-key",
        ld({"kind": "user", "key": None, "type": "default"}),
        INVALID,
        "key is null, not a string",
    ),
    (
        "invalid-kind-not-string",
        ld({"kind": 1, "key": "u1", "type": "default"}),
        INVALID,
        "kind is a number, not a string",
    ),
    ("invalid-kind-empty", ld({"kind": "", "key": "u1"}), INVALID, "kind is empty"),
    ("invalid-kind-kind", ld({"kind": "kind", "key": "u1"}), INVALID, "kind 'kind' is not allowed"),
    (
        "invalid-kind-characters",
        ld({"kind": "my user", "key": "u1", "type": "default"}),
        INVALID,
        "kind 'my user' has characters other than letters, digits, '.', '-' and '_'",
    ),
    (
        "invalid-not-object-string",
        ld("user-123"),
        INVALID,
        "'launchdarklyContext' is a string, not an object",
    ),
    (
        "invalid-not-object-array",
        ld([{"kind": "user", "key": "u1"}]),
        INVALID,
        "'launchdarklyContext' is an array, not an object",
    ),
    (
        "invalid-whole-context-flattened",
        ld("[Object]"),
        INVALID,
        "'launchdarklyContext' is \"[Object]\" (nested too deep for the SDK's normalizeDepth)",
    ),
    (
        "invalid-multi-empty",
        ld({"kind": "multi", "type": "default"}),
        INVALID,
        "multi context has no member contexts",
    ),
    (
        "invalid-multi-member-flattened",
        ld({"kind": "multi", "user": "[Object]", "org": {"key": "o1"}, "type": "default"}),
        INVALID,
        "member 'user': the value is \"[Object]\" (nested too deep for the SDK's normalizeDepth)",
    ),
    (
        "invalid-multi-member-key-filtered",
        ld({"kind": "multi", "user": {"key": "[Filtered]"}, "type": "launchdarklyContext"}),
        INVALID,
        "member 'user': key is \"[Filtered]\" (scrubbed by Sentry's data scrubbing)",
    ),
    (
        "invalid-multi-member-key-object-flattened",
        ld({"kind": "multi", "user": {"key": "[Object]"}}),
        INVALID,
        "member 'user': key is \"[Object]\" (nested too deep for the SDK's normalizeDepth)",
    ),
    (
        "invalid-multi-member-no-key",
        ld({"kind": "multi", "user": {"name": "Sandy"}, "type": "default"}),
        INVALID,
        "member 'user': no key",
    ),
    (
        "invalid-multi-member-not-object",
        ld({"kind": "multi", "user": "u1"}),
        INVALID,
        "member 'user': the value is a string, not an object",
    ),
    (
        "invalid-multi-member-bad-kind",
        ld({"kind": "multi", "my org": {"key": "o1"}}),
        INVALID,
        "member 'my org': kind 'my org' has characters other than letters, digits, '.', '-' and '_'",
    ),
    (
        "invalid-multi-nested-multi",
        ld({"kind": "multi", "multi": {"key": "x"}}),
        INVALID,
        "member 'multi': kind 'multi' is only allowed at the top level",
    ),
]

# Names clearly meant as launchdarklyContext: (id, name)
MISNAMES = [
    ("camel-capital-d", "launchDarklyContext"),
    ("snake", "launchdarkly_context"),
    ("pascal", "LaunchDarklyContext"),
    ("kebab", "launchdarkly-context"),
    ("ld-camel", "ldContext"),
    ("ld-snake", "ld_context"),
    ("bare", "launchdarkly"),
    ("dotted", "launchdarkly.context"),
    ("spaced", "LaunchDarkly Context"),
    ("upper", "LAUNCHDARKLY_CONTEXT"),
    ("ld-ctx", "ld_ctx"),
]


@pytest.mark.parametrize(
    ("contexts", "expected_class", "reason"),
    [pytest.param(c, k, r, id=i) for i, c, k, r in CORPUS],
)
def test_corpus(contexts: dict[str, Any] | None, expected_class: ContextClass, reason: str) -> None:
    verdict = classify(contexts)
    assert verdict.context_class is expected_class
    assert verdict.reason == reason
    assert verdict.rename is None
    assert verdict.name == (None if expected_class is MISSING else CONTEXT_NAME)


def test_corpus_is_large_and_covers_every_class() -> None:
    assert len(CORPUS) + len(MISNAMES) >= 25
    assert {k for _, _, k, _ in CORPUS} == {USABLE, MISSING, INVALID}


@pytest.mark.parametrize("name", [pytest.param(n, id=i) for i, n in MISNAMES])
def test_misnamed_context(name: str) -> None:
    contexts = {**RUNTIME, name: {"kind": "user", "key": "u1", "type": "default"}}
    assert classify(contexts) == ContextVerdict(
        MISNAMED,
        f"the context is named '{name}', not 'launchdarklyContext'",
        name,
        f"'{name}' → 'launchdarklyContext'",
    )


def test_misnamed_context_with_an_invalid_value_says_so() -> None:
    verdict = classify({"ldContext": {"kind": "user", "key": "[Filtered]", "type": "default"}})
    assert verdict.context_class is MISNAMED
    assert verdict.reason == (
        "the context is named 'ldContext', not 'launchdarklyContext'; its value is invalid too: "
        'key is "[Filtered]" (scrubbed by Sentry\'s data scrubbing)'
    )
    assert verdict.rename == "'ldContext' → 'launchdarklyContext'"


def test_the_right_name_wins_over_a_misnamed_one() -> None:
    verdict = classify({"ldContext": {"kind": "user", "key": "u2"}, CONTEXT_NAME: {"kind": "user", "key": "u1"}})
    assert verdict.context_class is USABLE


def test_unrelated_names_are_not_misnamed() -> None:
    for name in ("ld", "darkly", "launchdarklyFlags", "user", "context", "featureFlags"):
        assert classify({name: {"kind": "user", "key": "u1"}}).context_class is MISSING, name


def test_a_type_member_is_dropped_even_when_it_is_the_only_extra() -> None:
    # A stray `type` on a multi context would otherwise read as a context kind (§4.6).
    verdict = classify(ld({"kind": "multi", "user": {"key": "u1"}, "type": "default"}))
    assert verdict.reason == "multi context of kinds 'user'"


@pytest.mark.parametrize(
    ("context", "keys"),
    [
        ({"kind": "user", "key": "u1", "type": "default"}, {"user": "u1"}),
        ({"kind": "org", "key": "o1"}, {"org": "o1"}),
        ({"key": "u1", "name": "Sandy", "type": "launchdarklyContext"}, {"user": "u1"}),
        (
            {"kind": "multi", "user": {"key": "u1", "name": "Sandy"}, "org": {"key": "o1"}, "type": "default"},
            {"user": "u1", "org": "o1"},
        ),
    ],
)
def test_context_keys(context: dict[str, Any], keys: dict[str, str]) -> None:
    assert context_keys(context) == keys


def test_context_keys_refuses_an_unusable_context() -> None:
    with pytest.raises(ValueError, match=r"not a usable LaunchDarkly context: key is empty"):
        context_keys({"kind": "user", "key": ""})
    with pytest.raises(ValueError, match="multi context has no member contexts"):
        context_keys({"kind": "multi", "type": "default"})
