"""`ldsentry mappings discover` over real HTTP against the emulator: proposals, --write, --interactive, requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from contracts import validate_request
from emulator_support import LD_TOKEN, SENTRY_TOKEN, Emulator, emulator_in_use
from typer.testing import CliRunner

from ld_sentry_cli.cli import app


def sentry_project(slug: str, number: int, *envs: str, hidden: tuple[str, ...] = ()) -> dict[str, object]:
    return {"slug": slug, "id": 4505000000 + number, "environments": list(envs), "hidden_environments": list(hidden)}


# Exact, aliased, similar, unmatched, ambiguous and hidden names; `web` is already mapped for production.
SCENARIO = {
    "name": "hidden-shaped",
    "launchdarkly": {
        "tokens": [{"value": LD_TOKEN}],
        "projects": [
            {"key": "web", "environments": ["production", "staging"]},
            {"key": "checkout", "environments": ["production"]},
            {"key": "payments", "environments": ["production"]},
            {"key": "mobile", "environments": ["production", "test"]},
            {"key": "search-web", "environments": ["production"]},
            {"key": "search-api", "environments": ["production"]},
        ],
    },
    "sentry": {
        "organization": "acme",
        "projects_page_size": 2,  # the client asks for 100; a smaller page would need the cursor
        "tokens": [{"value": SENTRY_TOKEN}],
        "projects": [
            sentry_project("web", 1, "production", "staging"),
            sentry_project("checkout-api", 2, "prod"),
            sentry_project("paymnets", 3, "production"),
            sentry_project("legacy", 4, "production"),
            sentry_project("mobile", 5, "production", "canary", hidden=("testing", "old")),
            sentry_project("search", 6, "production"),
        ],
    },
}

CONFIG = """\
# Reviewed like code.
[sentry]
organization = "acme"   # the one organization

[[mapping]]
sentry_project = "web"
sentry_environment = "production"
ld_project = "web"
ld_environment = "production"
# a trailing comment that must stay where it is
"""

APPENDED = """\

# ldsentry mappings discover: alias match; project 'checkout-api' ~ 'checkout' (same name once normalised); \
environment 'prod' ~ 'production' (environment alias)
[[mapping]]
sentry_project = "checkout-api"
sentry_environment = "prod"
ld_project = "checkout"
ld_environment = "production"

# ldsentry mappings discover: exact match; project 'mobile' = 'mobile'; environment 'production' = 'production'
[[mapping]]
sentry_project = "mobile"
sentry_environment = "production"
ld_project = "mobile"
ld_environment = "production"

# ldsentry mappings discover: exact match; project 'web' is already mapped to 'web'; environment 'staging' = 'staging'
[[mapping]]
sentry_project = "web"
sentry_environment = "staging"
ld_project = "web"
ld_environment = "staging"
"""


@pytest.fixture
def hidden_shaped(monkeypatch: pytest.MonkeyPatch, isolated_env: Path) -> Iterator[Emulator]:
    """The hidden-shaped scenario served on loopback, the environment pointing at it, ./ldsentry.toml written."""
    (isolated_env / "ldsentry.toml").write_text(CONFIG, encoding="utf-8")
    with emulator_in_use(monkeypatch, SCENARIO) as running:
        yield running


def discover_json(runner: CliRunner, *args: str) -> dict[str, object]:
    result = runner.invoke(app, ["mappings", "discover", "--output", "json", *args])
    assert result.exit_code == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def test_discover_proposes_exact_alias_and_similar_and_lists_the_rest(
    runner: CliRunner, hidden_shaped: Emulator
) -> None:
    document = discover_json(runner)

    proposals = [
        (
            p["sentry_project"],
            p["sentry_environment"],
            p["ld_project"],
            p["ld_environment"],
            p["confidence"],
            p["selected"],
        )
        for p in document["proposals"]  # type: ignore[union-attr]
    ]
    assert proposals == [
        ("checkout-api", "prod", "checkout", "production", "alias", True),
        ("mobile", "production", "mobile", "production", "exact", True),
        ("paymnets", "production", "payments", "production", "similar", False),
        ("web", "staging", "web", "staging", "exact", True),
    ]
    assert document["unmatched"] == [
        {
            "sentry_project": "legacy",
            "sentry_environment": "production",
            "reason": "no LaunchDarkly project has a matching name",
        },
        {
            "sentry_project": "mobile",
            "sentry_environment": "canary",
            "reason": "LaunchDarkly project 'mobile' has no environment like 'canary'",
        },
        {
            "sentry_project": "search",
            "sentry_environment": "production",
            "reason": "ambiguous: search-api, search-web match equally (alias)",
        },
    ]
    # mobile is read in full because its hidden `testing` would have gone to mobile/test; then both are listed.
    assert document["hidden"] == [
        {"sentry_project": "mobile", "sentry_environment": "testing"},
        {"sentry_project": "mobile", "sentry_environment": "old"},
    ]
    assert document["already_mapped"] == 1
    assert document["min_confidence"] == "alias"
    assert document["written"] == []


def test_discover_reads_each_collection_once_and_every_request_follows_the_contracts(
    runner: CliRunner, hidden_shaped: Emulator
) -> None:
    result = runner.invoke(app, ["--debug", "mappings", "discover"])

    records = hidden_shaped.sandbox.requests()
    for record in records:
        service = "launchdarkly" if record.path.startswith("/api/v2/") else "sentry"
        validate_request(service, record.method, record.path, parse_qsl(record.query))
    endpoints = sorted(f"{r.method} {r.path}?{r.query}" for r in records)
    # Only mobile is read in full: its hidden `testing` is the one hidden name a LaunchDarkly environment takes.
    assert endpoints == [
        "GET /api/0/organizations/acme/environments/?visibility=hidden",
        "GET /api/0/organizations/acme/projects/?per_page=100",
        "GET /api/0/projects/acme/mobile/environments/?visibility=all",
        "GET /api/v2/projects?expand=environments&limit=20&offset=0",
    ]
    assert result.exit_code == 0
    assert "debug: ldsentry.discover: read both inventories in 4 requests: 3 to Sentry, 1 to LaunchDarkly" in (
        result.stderr
    )


def test_write_twice_appends_the_proposals_once_and_keeps_every_other_byte(
    runner: CliRunner, hidden_shaped: Emulator, isolated_env: Path
) -> None:
    config = isolated_env / "ldsentry.toml"

    first = runner.invoke(app, ["mappings", "discover", "--write"])
    after_first = config.read_text(encoding="utf-8")
    second = runner.invoke(app, ["mappings", "discover", "--write"])

    assert first.exit_code == 0, first.stderr
    assert after_first == CONFIG + APPENDED
    assert first.stderr.endswith(
        "Added 3 mappings to ldsentry.toml:\n"
        "  checkout-api/prod → checkout/production (line 13)\n"
        "  mobile/production → mobile/production (line 20)\n"
        "  web/staging → web/staging (line 27)\n"
    )
    assert second.exit_code == 0
    assert second.stderr.endswith("Nothing new to add to ldsentry.toml.\n")
    assert config.read_text(encoding="utf-8") == after_first
    validate = runner.invoke(app, ["validate"])
    assert validate.exit_code == 0, validate.stderr


def test_min_confidence_similar_writes_the_typo_match_too(
    runner: CliRunner, hidden_shaped: Emulator, isolated_env: Path
) -> None:
    document = discover_json(runner, "--write", "--min-confidence", "similar")

    written = [(m["sentry_project"], m["ld_project"]) for m in document["written"]]  # type: ignore[union-attr]
    assert written == [("checkout-api", "checkout"), ("mobile", "mobile"), ("paymnets", "payments"), ("web", "web")]
    assert "# ldsentry mappings discover: similar match; project 'paymnets' ≈ 'payments' (88% alike)" in (
        (isolated_env / "ldsentry.toml").read_text(encoding="utf-8")
    )


def test_interactive_refuses_without_a_terminal(runner: CliRunner, hidden_shaped: Emulator) -> None:
    result = runner.invoke(app, ["mappings", "discover", "--interactive"], input="y\n")

    assert result.exit_code == 2
    assert result.stderr == (
        "error: --interactive needs a terminal to ask on, and standard input is not one\n"
        "hint: Review the proposals with `ldsentry mappings discover`, then write them with --write.\n"
    )
    assert hidden_shaped.sandbox.requests() == []


def test_interactive_writes_yes_skips_no_edits_and_quits(
    runner: CliRunner, hidden_shaped: Emulator, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ld_sentry_cli.cli.discover_cmd.stdin_is_terminal", lambda: True)
    config = isolated_env / "ldsentry.toml"

    # checkout-api/prod: edit to an environment that does not exist (skipped); mobile/production: no;
    # then quit before web/staging.
    result = runner.invoke(app, ["mappings", "discover", "--interactive"], input="e\ncheckout\nstaging\nn\nq\n")

    assert result.exit_code == 0, result.stderr
    assert "  skipped: LaunchDarkly has no environment checkout/staging\n" in result.stderr
    assert config.read_text(encoding="utf-8") == CONFIG
    assert result.stderr.endswith("Nothing new to add to ldsentry.toml.\n")

    # checkout-api/prod: edit, keeping both defaults; mobile/production: no; web/staging: yes.
    again = runner.invoke(app, ["mappings", "discover", "--interactive"], input="e\n\n\nn\ny\n")
    assert again.exit_code == 0, again.stderr
    text = config.read_text(encoding="utf-8")
    assert text.startswith(CONFIG)
    assert 'sentry_project = "web"\nsentry_environment = "staging"' in text
    assert 'sentry_project = "checkout-api"\nsentry_environment = "prod"' in text
    assert "mobile" not in text
    assert again.stderr.endswith(
        "Added 2 mappings to ldsentry.toml:\n"
        "  checkout-api/prod → checkout/production (line 13)\n"
        "  web/staging → web/staging (line 20)\n"
    )


def test_markdown_lists_proposals_unmatched_and_hidden(runner: CliRunner, hidden_shaped: Emulator) -> None:
    result = runner.invoke(app, ["mappings", "discover", "--output", "markdown"])

    assert result.exit_code == 0
    assert "| ✓ GREEN | checkout-api/prod | checkout/production | alias |" in result.stdout
    assert "| ✓ GREEN | legacy/production | — | unmatched | no LaunchDarkly project has a matching name |" in (
        result.stdout
    )
    assert "| ✓ GREEN | mobile/testing | — | hidden | hidden in Sentry |" in result.stdout
    assert "**4 proposals (3 at alias or better), 3 unmatched, 2 hidden, 1 already mapped**" in result.stdout


def test_discover_on_the_demo_scenario(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    document = discover_json(runner)

    proposals = [
        (p["sentry_project"], p["sentry_environment"], p["ld_project"], p["ld_environment"], p["confidence"])
        for p in document["proposals"]
    ]  # type: ignore[union-attr]
    assert proposals == [
        ("checkout-web", "prod", "checkout", "production", "alias"),
        ("checkout-web", "stg", "checkout", "staging", "alias"),
        ("mobile-app", "staging", "mobile", "staging", "exact"),
    ]
    # The organization hides `production` (in checkout-web) and `qa`: every project whose LaunchDarkly
    # match has a production environment is read in full, and the hidden ones found are listed.
    assert document["hidden"] == [
        {"sentry_project": "checkout-web", "sentry_environment": "production"},
        {"sentry_project": "web-frontend", "sentry_environment": "qa"},
    ]
