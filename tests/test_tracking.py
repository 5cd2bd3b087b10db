"""The tracking domain: which statements cover an environment, what setup plans, how check grades."""

from __future__ import annotations

import re

import pytest

from ld_sentry_cli import secrets
from ld_sentry_cli.models import ProjectMapping
from ld_sentry_cli.tracking import (
    ALL_FLAGS,
    build_tracking_report,
    covers,
    find_webhook,
    generate_secret,
    plan_setup,
    sentry_hook_url,
    webhook_post_body,
)
from ld_sentry_cli.tracking_models import LdWebhook, WebhookStatement

HOOK = "https://sentry.io/api/0/organizations/acme/flags/hooks/provider/launchdarkly/"
SECRET = "f" * 32
MAPPINGS = (
    ProjectMapping("web", "production", "default", "production", line=20),
    ProjectMapping("web", "prod-eu", "default", "production", line=26),  # same LD environment: one row
    ProjectMapping("api", "staging", "checkout", "staging", line=32),
)
BOTH = WebhookStatement(
    "allow", resources=("proj/default:env/production:flag/*", "proj/checkout:env/staging:flag/*"), actions=("*",)
)


def hook(**fields: object) -> LdWebhook:
    values: dict[str, object] = {"id": "w1", "url": HOOK, "on": True, "signed": True, "tags": ("ldsentry",)}
    values.update(fields)
    return LdWebhook(**values)  # type: ignore[arg-type]


def allow(*resources: str, actions: tuple[str, ...] = ("*",)) -> WebhookStatement:
    return WebhookStatement("allow", resources=resources, actions=actions)


def test_hook_url_is_the_organizations_launchdarkly_provider() -> None:
    assert sentry_hook_url("https://sentry.io/", "acme") == HOOK
    assert sentry_hook_url("http://127.0.0.1:8000", "a b").endswith(
        "/organizations/a%20b/flags/hooks/provider/launchdarkly/"
    )


def test_generated_secrets_are_32_random_hex_characters_and_redacted() -> None:
    first, second = generate_secret(), generate_secret()

    assert re.fullmatch(r"[0-9a-f]{32}", first), first
    assert first != second
    assert secrets.redact(f"secret {first}") == "secret [REDACTED]"


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        ((), True),  # no statements: LaunchDarkly sends every change
        ((allow(ALL_FLAGS),), True),
        ((allow("proj/default:env/*:flag/*"),), True),
        ((allow("proj/default:env/production:flag/*"),), True),
        ((allow("proj/default:env/production:flag/checkout-*"),), False),  # only some flags
        ((allow("proj/default:env/production:flag/*;beta"),), False),  # only tagged flags
        ((allow("proj/other:env/*:flag/*"),), False),
        ((allow(ALL_FLAGS, actions=("updateOn",)),), False),  # only some changes
        ((allow(ALL_FLAGS), WebhookStatement("deny", resources=("proj/default:env/production:flag/secret-*",))), False),
        ((allow(ALL_FLAGS), WebhookStatement("deny", resources=("proj/mobile:env/*:flag/*",))), True),
        ((WebhookStatement("allow", not_resources=("proj/mobile:*",), actions=("*",)),), True),
        ((WebhookStatement("allow", not_resources=("proj/default:env/*:flag/*",), actions=("*",)),), False),
    ],
)
def test_covers(statements: tuple[WebhookStatement, ...], expected: bool) -> None:
    assert covers(statements, "proj/default:env/production:flag/*") is expected


def test_find_webhook_matches_the_url_loosely_and_prefers_a_working_one() -> None:
    other = hook(id="w0", url="https://example.com/hook")
    off = hook(id="w2", url=HOOK.replace("https://sentry.io", "HTTPS://Sentry.IO"), on=False)
    good = hook(id="w3", url=HOOK.rstrip("/"))

    assert find_webhook([other], HOOK) is None
    assert find_webhook([other, off, good], HOOK) == good
    assert find_webhook([off], HOOK) == off


def test_plan_creates_a_signed_enabled_tagged_webhook_limited_to_the_mappings() -> None:
    plan = plan_setup([hook(url="https://example.com/")], HOOK, MAPPINGS, SECRET)

    assert plan.webhook is None
    assert plan.new_secret is True
    assert [(r.method, r.path) for r in plan.requests] == [("POST", "/api/v2/webhooks")]
    assert plan.requests[0].body == {
        "name": "Sentry flag change tracking (ldsentry)",
        "url": HOOK,
        "sign": True,
        "secret": SECRET,
        "on": True,
        "tags": ["ldsentry"],
        "statements": [
            {
                "effect": "allow",
                "resources": ["proj/default:env/production:flag/*", "proj/checkout:env/staging:flag/*"],
                "actions": ["*"],
            }
        ],
    }
    assert plan.requests[0].masked_body()["secret"] == "[REDACTED]"
    assert SECRET not in repr(plan.requests[0].masked_body())


def test_plan_all_projects() -> None:
    plan = plan_setup([], HOOK, (), SECRET, all_projects=True)

    assert plan.requests[0].body["statements"][0]["resources"] == [ALL_FLAGS]


def test_plan_changes_nothing_when_the_webhook_is_in_place() -> None:
    plan = plan_setup([hook(statements=(BOTH,))], HOOK, MAPPINGS, SECRET)

    assert plan.unchanged
    assert plan.new_secret is False
    assert plan.webhook == hook(statements=(BOTH,))


def test_plan_extends_statements_for_added_mappings_only() -> None:
    existing = hook(statements=(allow("proj/default:env/production:flag/*"),))

    plan = plan_setup([existing], HOOK, MAPPINGS, SECRET)

    assert plan.new_secret is False
    assert [(r.method, r.path) for r in plan.requests] == [("PATCH", "/api/v2/webhooks/w1")]
    assert plan.requests[0].body == [
        {
            "op": "add",
            "path": "/statements/-",
            "value": {"effect": "allow", "resources": ["proj/checkout:env/staging:flag/*"], "actions": ["*"]},
        }
    ]
    assert plan.requests[0].purpose == "update webhook w1: extend its statements to 1 more environment"
    assert plan.changes == ("extend its statements to 1 more environment",)


def test_plan_turns_an_unsigned_disabled_webhook_on_and_signed_with_a_new_secret() -> None:
    plan = plan_setup([hook(on=False, signed=False, statements=(BOTH,))], HOOK, MAPPINGS, SECRET)

    assert plan.new_secret is True
    assert plan.requests[0].body == [
        {"op": "replace", "path": "/on", "value": True},
        {"op": "add", "path": "/sign", "value": True},
        {"op": "add", "path": "/secret", "value": SECRET},
    ]
    assert plan.requests[0].masked_body()[2] == {"op": "add", "path": "/secret", "value": "[REDACTED]"}


def test_plan_rotates_the_secret_when_asked() -> None:
    plan = plan_setup([hook(statements=(BOTH,))], HOOK, MAPPINGS, SECRET, rotate_secret=True)

    assert plan.requests[0].body == [{"op": "add", "path": "/secret", "value": SECRET}]
    assert plan.new_secret is True


def test_post_body_keeps_the_resources_in_order() -> None:
    body = webhook_post_body(HOOK, ["proj/b:env/x:flag/*", "proj/a:env/y:flag/*"], SECRET)

    assert body["statements"][0]["resources"] == ["proj/b:env/x:flag/*", "proj/a:env/y:flag/*"]


def test_check_red_without_a_webhook() -> None:
    report = build_tracking_report([hook(url="https://example.com/")], HOOK, MAPPINGS)

    assert report.status.value == "red"
    assert not report.ok()
    assert [p.code for p in report.problems] == ["tracking_webhook_missing"]
    assert report.problems[0].message == (
        f"No LaunchDarkly webhook posts flag changes to Sentry's hook URL {HOOK}; run `ldsentry tracking setup`."
    )
    assert [(r.label, r.covered, r.line) for r in report.rows] == [
        ("default/production", None, 20),
        ("checkout/staging", None, 32),
    ]


def test_check_red_when_off() -> None:
    report = build_tracking_report([hook(on=False, statements=(BOTH,))], HOOK, MAPPINGS)

    assert report.status.value == "red"
    assert [p.code for p in report.problems] == ["tracking_webhook_off"]


def test_check_amber_when_unsigned() -> None:
    report = build_tracking_report([hook(signed=False, statements=(BOTH,))], HOOK, MAPPINGS)

    assert report.status.value == "amber"
    assert report.ok() and not report.ok(strict=True)
    assert report.problems[0].message == (
        "LaunchDarkly webhook w1 does not sign its deliveries, so Sentry rejects every one (401); run "
        "`ldsentry tracking setup --register-in-sentry` to turn signing on with a new secret."
    )


def test_check_amber_for_partial_coverage_names_the_environment() -> None:
    report = build_tracking_report([hook(statements=(allow("proj/default:env/*:flag/*"),))], HOOK, MAPPINGS)

    assert report.status.value == "amber"
    assert [(r.label, r.covered, r.status.value) for r in report.rows] == [
        ("default/production", True, "green"),
        ("checkout/staging", False, "amber"),
    ]
    assert [p.message for p in report.problems] == [
        "Flag changes in LaunchDarkly checkout/staging do not reach Sentry: the statements of webhook w1 leave "
        "this environment out; run `ldsentry tracking setup` to extend them."
    ]


def test_check_green() -> None:
    report = build_tracking_report([hook(statements=(BOTH,))], HOOK, MAPPINGS)

    assert report.status.value == "green"
    assert report.problems == ()
    assert report.summary.green == 2
