"""The scrubbing audit names the setting that filters each member of launchdarklyContext, and the fix."""

from __future__ import annotations

import pytest

from ld_sentry_cli.scrubbing import ScrubbingSettings, audit, merge

FIX = (
    "Add `contexts.launchdarklyContext.**` to Safe Fields in Sentry (Settings → Projects → web → "
    "Security & Privacy), or rename the attribute in the LaunchDarkly context."
)
DEFAULTS = ScrubbingSettings(data_scrubber=True, defaults=True)


def risks(
    project: ScrubbingSettings, samples: list[dict[str, object]], org: ScrubbingSettings | None = None
) -> dict[str, tuple[str, str, bool]]:
    result = audit(project, org, samples, project_slug="web")
    return {r.member: (r.setting, r.why, r.seen) for r in result.risks}


def test_default_rules_filter_keys_by_name_even_in_nested_members() -> None:
    sample = {"kind": "multi", "user": {"key": "u1", "authLevel": "admin"}, "session": {"token": "[Filtered]"}}
    assert risks(DEFAULTS, [sample]) == {
        "session.token": (
            "dataScrubberDefaults",
            "Sentry's default scrubbing rules filter every value whose key contains 'token'",
            True,
        ),
        "user.authLevel": (
            "dataScrubberDefaults",
            "Sentry's default scrubbing rules filter every value whose key contains 'auth'",
            False,
        ),
    }


def test_a_sensitive_field_reaching_the_key_is_an_essential_risk_even_unsampled() -> None:
    project = ScrubbingSettings(data_scrubber=True, defaults=False, sensitive_fields=("KEY",))
    result = audit(project, None, [], project_slug="web")
    assert [(r.member, r.setting, r.essential, r.seen) for r in result.risks] == [
        ("key", "sensitiveFields", True, False)
    ]
    assert result.risks[0].why == "the project's Additional Sensitive Fields (sensitiveFields) include 'KEY'"
    assert result.risks[0].fix == f"Remove 'KEY' from them, or: {FIX}"
    assert not result.organization_known


def test_organization_requirements_win_over_a_project_that_switched_scrubbing_off() -> None:
    project = ScrubbingSettings(data_scrubber=False, defaults=False)
    org = ScrubbingSettings(data_scrubber=True, defaults=True, sensitive_fields=("email",))
    got = risks(project, [{"kind": "user", "key": "u1", "email": "a@b.test"}], org)
    assert got == {
        "email": (
            "sensitiveFields",
            "the organization's Additional Sensitive Fields (sensitiveFields) include 'email'",
            False,
        )
    }
    assert risks(project, [{"kind": "user", "key": "u1", "authToken": "x"}]) == {}  # nothing on, nothing filtered


@pytest.mark.parametrize(
    ("key", "shape"),
    [
        ("4111 1111 1111 1111", "a credit card number"),
        ("123-45-6789", "a US social security number"),
        ("GB82WEST12345698765432", "an IBAN"),
        ("/home/alice", "a home folder path"),
    ],
)
def test_default_rules_filter_values_by_shape(key: str, shape: str) -> None:
    assert risks(DEFAULTS, [{"kind": "user", "key": key}]) == {
        "key": ("dataScrubberDefaults", f"Sentry's default scrubbing rules filter values shaped like {shape}", False)
    }


def test_ip_addresses_are_replaced_only_when_that_setting_is_on() -> None:
    sample = {"kind": "device", "key": "10.1.2.3"}
    assert risks(ScrubbingSettings(data_scrubber=False), [sample]) == {}
    assert risks(ScrubbingSettings(data_scrubber=False, scrub_ip_addresses=True), [sample]) == {
        "key": (
            "scrubIPAddresses",
            "Prevent Storing of IP Addresses (scrubIPAddresses) replaces IP addresses in every value",
            False,
        )
    }


@pytest.mark.parametrize(
    ("safe", "exempt", "left"),
    [
        ("contexts.launchdarklyContext.**", True, []),
        ("launchdarklyContext.**", True, []),
        ("authLevel", False, ["session.token"]),
        ("contexts.launchdarklyContext.user.*", False, ["session.token"]),
        ("contexts.other.**", False, ["session.token", "user.authLevel"]),
    ],
)
def test_safe_fields_exempt_what_they_select(safe: str, exempt: bool, left: list[str]) -> None:
    sample = {"kind": "multi", "user": {"key": "u1", "authLevel": "admin"}, "session": {"token": "t"}}
    result = audit(ScrubbingSettings(safe_fields=(safe,)), None, [sample], project_slug="web")
    assert result.exempt is exempt
    assert [r.member for r in result.risks] == left


@pytest.mark.parametrize("value", ["[Filtered]", "user-[Filtered]"], ids=["whole", "part"])
def test_a_filtered_member_no_key_rule_explains_was_a_value_rule(value: str) -> None:
    # A value rule may filter the whole value or only the part of it that matched.
    assert risks(DEFAULTS, [{"kind": "user", "key": value}]) == {
        "key": (
            "dataScrubberDefaults",
            "Sentry's default scrubbing rules filtered its value (a value shaped like a card number, key or path)",
            True,
        )
    }


def test_advanced_rules_are_reported_as_possible_when_they_could_reach_the_context() -> None:
    broad = ScrubbingSettings(data_scrubber=False, advanced_rules='{"applications": {"$string": ["@email"]}}')
    narrow = ScrubbingSettings(data_scrubber=False, advanced_rules='{"applications": {"$http.headers": ["@anything"]}}')
    result = audit(broad, None, [{"kind": "user", "key": "u1"}], project_slug="web")
    assert {(r.member, r.setting, r.certain) for r in result.risks} == {
        ("key", "relayPiiConfig", False),
        ("kind", "relayPiiConfig", False),
    }
    assert audit(narrow, None, [{"kind": "user", "key": "u1"}], project_slug="web").risks == ()


def test_merge_adds_both_levels_fields() -> None:
    merged = merge(
        ScrubbingSettings(sensitive_fields=("a",), safe_fields=("x",)),
        ScrubbingSettings(sensitive_fields=("b",), safe_fields=("y",)),
    )
    assert merged.sensitive == (("b", "organization"), ("a", "project"))
    assert merged.safe == ("y", "x")
    assert (merged.scrub_data, merged.defaults, merged.scrub_ip) == (True, True, False)


def test_an_ip_address_replaced_by_scrub_ip_addresses_is_seen_even_inside_a_value() -> None:
    settings = ScrubbingSettings(data_scrubber=True, defaults=True, scrub_ip_addresses=True)
    result = audit(settings, None, [{"kind": "device", "key": "[ip]"}], project_slug="web")
    assert [(r.member, r.setting, r.seen, r.essential) for r in result.risks] == [
        ("key", "scrubIPAddresses", True, True)
    ]
    assert result.risks[0].why == (
        "Prevent Storing of IP Addresses (scrubIPAddresses) replaced an IP address in it with '[ip]'"
    )
