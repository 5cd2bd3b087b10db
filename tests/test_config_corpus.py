"""A corpus of broken configurations: each gives an exact message at the right line, exit 2, and
leaves the file byte-identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ld_sentry_cli.cli import app

HEAD = '[sentry]\norganization = "acme"\n\n'
MAPPING = (
    "[[mapping]]\n"
    'sentry_project = "web"\n'
    'sentry_environment = "production"\n'
    'ld_project = "default"\n'
    'ld_environment = "production"\n'
)
SDK_KEY = "sdk-12345678-1234-1234-1234-123456789012"

# (id, file content, expected stdout problem lines)
CASES: list[tuple[str, str, list[str]]] = [
    (
        "invalid-toml-bare-value",
        HEAD + "[metric]\nevent_key = sentry-errors\n",
        [
            "ldsentry.toml:5: invalid TOML: this value is not valid TOML "
            '(strings need quotes, for example "production") (column 13)'
        ],
    ),
    (
        "invalid-toml-unclosed-header",
        HEAD + '[metric\nevent_key = "x"\n',
        ["ldsentry.toml:4: invalid TOML: this [table] header is not closed; add the closing ] (column 8)"],
    ),
    (
        "wrong-type-integer",
        "[sentry]\norganization = 42\n",
        ["ldsentry.toml:2: [sentry] organization must be a string, not an integer"],
    ),
    ("wrong-type-section", 'metric = "x"\n', ["ldsentry.toml:1: [metric] must be a table, not a string"]),
    (
        "mapping-as-single-table",
        '[mapping]\nsentry_project = "web"\n',
        ["ldsentry.toml:1: write mappings as [[mapping]] tables (one per mapping), not [mapping]"],
    ),
    (
        "missing-key",
        HEAD + MAPPING.replace('ld_environment = "production"\n', ""),
        ["ldsentry.toml:4: [[mapping]] is missing required key 'ld_environment'"],
    ),
    (
        "unknown-key-did-you-mean",
        HEAD + MAPPING.replace("sentry_environment =", "sentry_env ="),
        ["ldsentry.toml:6: unknown key 'sentry_env' in [[mapping]] (did you mean 'sentry_environment'?)"],
    ),
    (
        "unknown-section",
        '[sentri]\norganization = "acme"\n',
        ["ldsentry.toml:1: unknown section [sentri] (did you mean [sentry]?)"],
    ),
    (
        "unknown-top-level-key",
        'event_key = "x"\n',
        ["ldsentry.toml:1: unknown key 'event_key' at the top level (did you mean [metric] event_key?)"],
    ),
    (
        "bad-sentry-slug",
        HEAD + MAPPING.replace('"web"', '"Web App"'),
        [
            'ldsentry.toml:5: [[mapping]] sentry_project "Web App" must be a Sentry slug: '
            "lowercase letters, digits, '-' or '_'"
        ],
    ),
    (
        "bad-sentry-environment-slash",
        HEAD + MAPPING.replace('sentry_environment = "production"', 'sentry_environment = "prod/eu"'),
        [
            "ldsentry.toml:6: [[mapping]] sentry_environment \"prod/eu\" must not contain spaces, '/' "
            "or newlines (Sentry's rule)"
        ],
    ),
    (
        "sentry-environment-none",
        HEAD + MAPPING.replace('sentry_environment = "production"', 'sentry_environment = "None"'),
        ["ldsentry.toml:6: [[mapping]] sentry_environment \"None\" must not be the string 'None' (Sentry reserves it)"],
    ),
    (
        "sentry-environment-too-long",
        HEAD + MAPPING.replace('sentry_environment = "production"', f'sentry_environment = "{"e" * 65}"'),
        [
            f'ldsentry.toml:6: [[mapping]] sentry_environment "{"e" * 65}" must be at most 64 characters '
            "(Sentry's limit)"
        ],
    ),
    (
        "bad-launchdarkly-key",
        HEAD + MAPPING.replace('"default"', '"my project"'),
        [
            'ldsentry.toml:7: [[mapping]] ld_project "my project" must be a LaunchDarkly key: '
            "letters, digits, '.', '_' or '-'"
        ],
    ),
    (
        "duplicate-mapping",
        HEAD + MAPPING + "\n" + MAPPING,
        [
            "ldsentry.toml:10: duplicate mapping web/production → default/production (first at line 4); "
            "delete one of them"
        ],
    ),
    (
        "conflicting-mapping",
        HEAD + MAPPING + "\n" + MAPPING.replace('ld_environment = "production"', 'ld_environment = "staging"'),
        [
            "ldsentry.toml:10: web/production is mapped twice: to default/staging here and to "
            "default/production at line 4; a Sentry project+environment maps to at most one "
            "LaunchDarkly environment"
        ],
    ),
    (
        "secret-key-launchdarkly",
        '[launchdarkly]\ntoken = "whatever"\n',
        [
            "ldsentry.toml:2: [launchdarkly] token looks like a secret; tokens never live in this file: "
            "set LD_ACCESS_TOKEN in the environment instead"
        ],
    ),
    (
        "secret-key-sentry",
        '[sentry]\nauth_token = "x"\n',
        [
            "ldsentry.toml:2: [sentry] auth_token looks like a secret; tokens never live in this file: "
            "set SENTRY_AUTH_TOKEN in the environment instead"
        ],
    ),
    (
        "secret-value-sdk-key",
        HEAD + MAPPING.replace('ld_environment = "production"', f'ld_environment = "{SDK_KEY}"'),
        [
            "ldsentry.toml:8: [[mapping]] ld_environment holds what looks like a LaunchDarkly SDK key; "
            "ldsentry never needs SDK keys: remove it"
        ],
    ),
    (
        "secret-value-sentry-token",
        '[sentry]\norganization = "sntrys_eyJpYXQiOjE3MDB9_abc"\n',
        [
            "ldsentry.toml:2: [sentry] organization holds what looks like a Sentry auth token; "
            "set SENTRY_AUTH_TOKEN in the environment instead"
        ],
    ),
    (
        "bad-metric-kind",
        '[metric]\nkind = "numeric"\n',
        ['ldsentry.toml:2: [metric] kind "numeric" must be "binary" or "count"'],
    ),
    (
        "bad-units",
        '[metric]\nunits = ["multi"]\n',
        ["ldsentry.toml:2: [metric] units [\"multi\"] has 'multi', which is not a LaunchDarkly context kind"],
    ),
    (
        "plain-http-base-url",
        '[launchdarkly]\nbase_url = "http://app.launchdarkly.com"\n',
        [
            'ldsentry.toml:2: [launchdarkly] base_url "http://app.launchdarkly.com" must use https '
            "(tokens are sent only over https, except to loopback hosts)"
        ],
    ),
    (
        "base-url-without-scheme",
        '[sentry]\nbase_url = "sentry.io"\n',
        ['ldsentry.toml:2: [sentry] base_url "sentry.io" must be a full URL starting with https://'],
    ),
    (
        "event-key-not-a-metric-key",
        '[metric]\nevent_key = "Order placed"\n',
        [
            'ldsentry.toml:2: [metric] event_key "Order placed" is not a valid metric key, so set '
            "[metric] key to the key ldsentry should create the metric under"
        ],
    ),
    (
        "empty-file",
        "",
        ["ldsentry.toml: the file is empty; run `ldsentry init --force` to write a starter configuration"],
    ),
    (
        "several-problems-at-once",
        '[sentry]\norganization = "ACME"\n[metric]\nkind = 1\nevnt_key = "x"\n',
        [
            'ldsentry.toml:2: [sentry] organization "ACME" must be a Sentry slug: '
            "lowercase letters, digits, '-' or '_'",
            "ldsentry.toml:4: [metric] kind must be a string, not an integer",
            "ldsentry.toml:5: unknown key 'evnt_key' in [metric] (did you mean 'event_key'?)",
        ],
    ),
]


@pytest.mark.parametrize(("content", "expected"), [(c, e) for _, c, e in CASES], ids=[i for i, _, _ in CASES])
def test_broken_config_is_reported_exactly(
    runner: CliRunner, isolated_env: Path, content: str, expected: list[str]
) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text(content, encoding="utf-8")
    before = path.read_bytes()

    result = runner.invoke(app, ["validate"])

    count = len(expected)
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        *expected,
        f"✗ ldsentry.toml: {count} problem{'s' if count > 1 else ''}",
    ]
    assert path.read_bytes() == before


@pytest.mark.parametrize(("content", "expected"), [(c, e) for _, c, e in CASES[:6]], ids=[i for i, _, _ in CASES[:6]])
def test_broken_config_json_names_line_and_code(
    runner: CliRunner, isolated_env: Path, content: str, expected: list[str]
) -> None:
    (isolated_env / "ldsentry.toml").write_text(content, encoding="utf-8")

    result = runner.invoke(app, ["validate", "--output", "json"])

    document = json.loads(result.stdout)
    assert result.exit_code == 2
    assert document["ok"] is False
    assert document["error"]["code"] == "config_invalid"
    assert [f"ldsentry.toml:{p['line']}: {p['message']}" for p in document["problems"]] == expected


def test_missing_file(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate"])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: ldsentry.toml: no such file\nhint: Run `ldsentry init` to create one, or pass --config PATH.\n"
    )


def test_missing_file_json(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", "-o", "json"])

    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "version": 1,
        "error": {
            "code": "config_not_found",
            "message": "ldsentry.toml: no such file",
            "hint": "Run `ldsentry init` to create one, or pass --config PATH.",
        },
    }


def test_directory_instead_of_file(runner: CliRunner, isolated_env: Path) -> None:
    (isolated_env / "conf.toml").mkdir()

    result = runner.invoke(app, ["validate", "--config", "conf.toml"])

    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        "conf.toml: is a directory, not a configuration file",
        "✗ conf.toml: 1 problem",
    ]


def test_non_utf8_bytes(runner: CliRunner, isolated_env: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_bytes(b'[sentry]\norganization = "acm\xff"\n')
    before = path.read_bytes()

    result = runner.invoke(app, ["validate"])

    assert result.exit_code == 2
    assert result.stdout.splitlines()[0] == (
        "ldsentry.toml:2: not valid UTF-8 (byte 0xff at column 20); save the file as UTF-8"
    )
    assert path.read_bytes() == before


def test_secret_value_never_echoed(runner: CliRunner, isolated_env: Path) -> None:
    token = "api-12345678-1234-1234-1234-123456789012"
    (isolated_env / "ldsentry.toml").write_text(f'[launchdarkly]\naccess_token = "{token}"\n', encoding="utf-8")

    result = runner.invoke(app, ["validate"])

    assert result.exit_code == 2
    assert token not in result.stdout + result.stderr


def test_config_from_environment_variable(
    runner: CliRunner, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_env / "elsewhere.toml").write_text("[metric]\nkind = 3\n", encoding="utf-8")
    monkeypatch.setenv("LDSENTRY_CONFIG", "elsewhere.toml")

    result = runner.invoke(app, ["validate"])

    assert result.exit_code == 2
    assert result.stdout.splitlines()[0] == "elsewhere.toml:2: [metric] kind must be a string, not an integer"
