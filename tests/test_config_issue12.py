"""Config edits, validation and syntax-error messages: one test per problem of issue 12 (sections 1-4)."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest
import tomli
from typer.testing import CliRunner

from ld_sentry_cli.cli import app
from ld_sentry_cli.config.loader import syntax_problem
from ld_sentry_cli.config.store import ConfigWriteError, write_atomic


def mapping_args(project: str, environment: str, ld_project: str = "default", ld_env: str = "production") -> list[str]:
    return [
        "--sentry-project",
        project,
        "--sentry-environment",
        environment,
        "--ld-project",
        ld_project,
        "--ld-environment",
        ld_env,
    ]


def table(project: str, environment: str = "production", extra: str = "") -> str:
    return (
        f'[[mapping]]\nsentry_project = "{project}"\nsentry_environment = "{environment}"{extra}\n'
        'ld_project = "default"\nld_environment = "production"\n'
    )


# --- 1. triple quotes in comments and strings ---------------------------------------------------

TRIPLE = (
    "[metric]\nevent_key = \"sentry-errors\"  # see '''above\nname = \"it'''s\"\n\n"
    + table("a", extra="  # it'''s")
    + "\n"
    + table("b")
)


def test_delete_with_triple_quotes_in_comments_removes_the_named_mapping(runner: CliRunner, isolated_env: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text(TRIPLE, encoding="utf-8")

    result = runner.invoke(app, ["mappings", "delete", *mapping_args("a", "production")])

    assert result.exit_code == 0, result.output
    assert result.stdout == "Deleted a/production → default/production (was at ldsentry.toml:5)\n"
    assert path.read_text(encoding="utf-8") == TRIPLE.replace("\n" + table("a", extra="  # it'''s"), "")


def test_list_and_create_report_lines_despite_triple_quotes(runner: CliRunner, isolated_env: Path) -> None:
    (isolated_env / "ldsentry.toml").write_text(TRIPLE, encoding="utf-8")

    listed = runner.invoke(app, ["mappings", "list", "-o", "json"])
    created = runner.invoke(app, ["mappings", "create", "--no-verify", *mapping_args("c", "production")])

    assert [m["line"] for m in json.loads(listed.stdout)["mappings"]] == [5, 11]
    assert created.stdout == "Added c/production → default/production at ldsentry.toml:17\n"


def test_a_header_inside_a_multiline_string_is_not_a_table(runner: CliRunner, isolated_env: Path) -> None:
    text = '[metric]\ndescription = """\n[[mapping]]\n"""\n\n' + table("a") + "\n" + table("b")
    (isolated_env / "ldsentry.toml").write_text(text, encoding="utf-8")

    listed = runner.invoke(app, ["mappings", "list", "-o", "json"])

    assert [m["line"] for m in json.loads(listed.stdout)["mappings"]] == [6, 12]


def test_split_mappings_are_deleted_in_place(runner: CliRunner, isolated_env: Path) -> None:
    # tomlkit would render [relay] after both mappings (python-poetry/tomlkit#601)
    path = isolated_env / "ldsentry.toml"
    text = table("a") + '\n[relay]\nspool = "x.db"\n\n' + table("b")
    path.write_text(text, encoding="utf-8")

    result = runner.invoke(app, ["mappings", "delete", *mapping_args("b", "production")])

    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == table("a") + '\n[relay]\nspool = "x.db"\n'


# --- 2. links, leftovers, comments, re-runs -------------------------------------------------------


def test_symlinked_config_edits_the_target(runner: CliRunner, isolated_env: Path) -> None:
    real = isolated_env / "configs" / "real.toml"
    real.parent.mkdir()
    real.write_text(table("a"), encoding="utf-8")
    link = isolated_env / "ldsentry.toml"
    link.symlink_to(real)

    result = runner.invoke(app, ["mappings", "create", "--no-verify", *mapping_args("b", "production")])

    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert real.read_text(encoding="utf-8") == table("a") + "\n" + table("b")
    assert sorted(p.name for p in isolated_env.iterdir()) == ["configs", "ldsentry.toml"]


def test_next_edit_removes_leftover_temporary_files(runner: CliRunner, isolated_env: Path) -> None:
    (isolated_env / "ldsentry.toml").write_text(table("a"), encoding="utf-8")
    leftover = isolated_env / ".ldsentry.toml.k3j_9xq2.tmp"
    leftover.write_text("half a file", encoding="utf-8")
    unrelated = isolated_env / ".other.toml.k3j_9xq2.tmp"
    unrelated.write_text("not ours", encoding="utf-8")

    result = runner.invoke(app, ["mappings", "create", "--no-verify", *mapping_args("b", "production")])

    assert result.exit_code == 0, result.output
    assert not leftover.exists()
    assert unrelated.exists()


def test_deleting_the_first_mapping_keeps_the_comment_that_introduces_them(
    runner: CliRunner, demo_config: Path
) -> None:
    path = demo_config
    before = path.read_text(encoding="utf-8")

    result = runner.invoke(app, ["mappings", "delete", *mapping_args("web-frontend", "production")])

    assert result.exit_code == 0, result.output
    first = table("web-frontend") + "\n"
    assert path.read_text(encoding="utf-8") == before.replace(first, "", 1)
    assert "# One table per Sentry project+environment." in path.read_text(encoding="utf-8")


def test_re_adding_an_identical_mapping_succeeds_and_changes_nothing(runner: CliRunner, isolated_env: Path) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text(table("a"), encoding="utf-8")

    result = runner.invoke(app, ["mappings", "create", "--no-verify", *mapping_args("a", "production")])
    as_json = runner.invoke(app, ["mappings", "create", "--no-verify", "-o", "json", *mapping_args("a", "production")])

    assert result.exit_code == 0
    assert result.stdout == "a/production → default/production is already mapped at ldsentry.toml:1; nothing to do\n"
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout)["existing"]["line"] == 1
    assert path.read_text(encoding="utf-8") == table("a")


# --- 5 (the config's part). the machine refuses the write -----------------------------------------


@pytest.mark.parametrize(
    ("number", "message", "hint"),
    [
        (
            errno.EROFS,
            "cannot write ldsentry.toml: the file system is read-only; the file is unchanged",
            "Run the command where the file can be written (for example a writable checkout), "
            "or edit the file by hand.",
        ),
        (
            errno.ENOSPC,
            "cannot write ldsentry.toml: no space left on the device (or the disk quota is used up); "
            "the file is unchanged",
            "Free some disk space, then run the command again.",
        ),
    ],
    ids=["read-only", "disk-full"],
)
def test_machine_refusing_the_write_is_explained(
    runner: CliRunner, isolated_env: Path, monkeypatch: pytest.MonkeyPatch, number: int, message: str, hint: str
) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text(table("a"), encoding="utf-8")

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(number, os.strerror(number))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    result = runner.invoke(app, ["mappings", "create", "--no-verify", "-o", "json", *mapping_args("b", "production")])

    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert (error["message"], error["hint"]) == (message, hint)
    assert path.read_text(encoding="utf-8") == table("a")


def test_read_only_folder_is_explained(runner: CliRunner, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text(table("a") + "\n" + table("b"), encoding="utf-8")

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    result = runner.invoke(app, ["mappings", "delete", *mapping_args("a", "production")])

    assert result.exit_code == 2
    assert f"cannot write ldsentry.toml: permission denied in {isolated_env.resolve()} " in result.output
    assert path.read_text(encoding="utf-8") == table("a") + "\n" + table("b")


def test_a_full_disk_while_writing_leaves_no_temporary_file(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = isolated_env / "ldsentry.toml"
    path.write_text("old\n", encoding="utf-8")

    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ConfigWriteError):
        write_atomic(path, "new\n", "ldsentry.toml")

    assert sorted(p.name for p in isolated_env.iterdir()) == ["ldsentry.toml"]
    assert path.read_text(encoding="utf-8") == "old\n"


# --- 3. validate catches offline what the live commands reject ------------------------------------


def validate(runner: CliRunner, isolated_env: Path, text: str) -> tuple[int, list[str]]:
    (isolated_env / "ldsentry.toml").write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["validate"])
    return result.exit_code, result.stdout.splitlines()[:-1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            # A user name alone is refused too, and shown: it is not a secret, but it has no place here.
            '[sentry]\nbase_url = "https://admin@sentry.example.com"\n',
            'ldsentry.toml:2: [sentry] base_url "https://admin@sentry.example.com" holds a URL with a user '
            "name or password; remove them (tokens come from the environment, never from this file)",
        ),
        (
            '[launchdarkly]\nbase_url = "https://admin:s3cret@app.launchdarkly.com"\n',
            'ldsentry.toml:2: [launchdarkly] base_url "https://***@app.launchdarkly.com" holds a URL with a user '
            "name or password; remove them (tokens come from the environment, never from this file)",
        ),
        (
            '[relay]\nspool = "postgresql://relay:hunter2@db.internal/spool"\n',
            'ldsentry.toml:2: [relay] spool "postgresql://***@db.internal/spool" must not contain a password: set '
            "PGPASSWORD, or use ~/.pgpass or a libpq service file",
        ),
        (
            table("a").replace('ld_project = "default"', 'ld_project = "default\\n"'),
            'ldsentry.toml:4: [[mapping]] ld_project "default\\n" must be a LaunchDarkly key: letters, digits, '
            "'.', '_' or '-'",
        ),
        (
            table("a").replace('ld_project = "default"', 'ld_project = ".."'),
            "ldsentry.toml:4: [[mapping]] ld_project \"..\" must be a LaunchDarkly key, not '.' or '..' "
            "(they name a folder in an API path)",
        ),
        (
            table("a", "prod\u00a0eu"),
            'ldsentry.toml:3: [[mapping]] sentry_environment "prod\u00a0eu" contains U+00A0 NO-BREAK SPACE at '
            "character 5: a space or invisible character that no Sentry environment name holds; retype the name",
        ),
        (
            table("a", "production\u200b"),
            'ldsentry.toml:3: [[mapping]] sentry_environment "production\u200b" contains U+200B ZERO WIDTH SPACE '
            "at character 11: a space or invisible character that no Sentry environment name holds; retype the name",
        ),
        (
            '[relay]\nlisten = "127.0.0.1:70000"\n',
            'ldsentry.toml:2: [relay] listen "127.0.0.1:70000" must have a port from 1 to 65535',
        ),
        (
            '[relay]\nlisten = "127.0.0.1:0"\n',
            'ldsentry.toml:2: [relay] listen "127.0.0.1:0" must have a port from 1 to 65535',
        ),
        (
            '"api-12345678-1234-1234-1234-123456789abc" = 1\n',
            "ldsentry.toml:1: the key name '[REDACTED]' is what looks like a LaunchDarkly access token; "
            "remove this key",
        ),
        (
            '[metric]\ndescription = "token api-12345678-1234-1234-1234-123456789abc"\n',
            "ldsentry.toml:2: [metric] description holds what looks like a LaunchDarkly access token; "
            "set LD_ACCESS_TOKEN in the environment instead",
        ),
    ],
    ids=[
        "base-url-user",
        "base-url-password",
        "spool-url-password",
        "key-newline",
        "dot-dot-key",
        "nbsp",
        "zero-width-space",
        "port-too-high",
        "port-zero",
        "token-as-key-name",
        "embedded-ld-token",
    ],
)
def test_validate_refuses_offline(runner: CliRunner, isolated_env: Path, text: str, expected: str) -> None:
    code, lines = validate(runner, isolated_env, text)

    assert code == 2
    assert lines == [expected]
    assert "s3cret" not in "\n".join(lines)
    assert "hunter2" not in "\n".join(lines)


def test_init_with_an_event_key_that_is_not_a_metric_key_writes_a_valid_config(
    runner: CliRunner, isolated_env: Path
) -> None:
    init = runner.invoke(app, ["init", "--event-key", "my event"])
    checked = runner.invoke(app, ["validate"])

    assert init.exit_code == 0, init.output
    text = (isolated_env / "ldsentry.toml").read_text(encoding="utf-8")
    assert 'event_key = "my event"\nkey = "my-event"  # the metric key:' in text
    assert checked.exit_code == 0, checked.output


def test_init_refuses_an_event_key_that_leaves_no_metric_key(runner: CliRunner, isolated_env: Path) -> None:
    result = runner.invoke(app, ["init", "--event-key", "!!"])

    assert result.exit_code == 2
    assert "--event-key '!!' leaves no valid metric key" in result.output
    assert not (isolated_env / "ldsentry.toml").exists()


# --- 4. syntax errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'\xef\xbb\xbf[metric]\nevent_key = "x"\n',
            "ldsentry.toml:1: invalid TOML: the file starts with a byte order mark (U+FEFF), which TOML readers "
            "such as Python's tomllib refuse; remove the byte order mark (save the file as UTF-8 without BOM)",
        ),
        (
            b'[metric]\nevent_key = "x"\x00\n',
            "ldsentry.toml:2: invalid TOML: a NUL byte (U+0000) at column 16 is not allowed in TOML; remove it "
            "(inside a quoted string, write it as \\u0000)",
        ),
        (
            b'[metric]\n\x0cevent_key = "x"\n',
            "ldsentry.toml:2: invalid TOML: a form feed (U+000C) at column 1 is not allowed in TOML; remove it "
            "(inside a quoted string, write it as \\u000C)",
        ),
        (
            b"[metric]\nname = ",
            "ldsentry.toml:2: invalid TOML: the file ends where a value should be; write the value "
            "(strings need quotes) (column 8)",
        ),
        (
            b'[metric]\nevent_key = "x\n[sentry]\n',
            "ldsentry.toml:2: invalid TOML: this string is not closed; add the closing quote before the end of "
            "the line (column 15)",
        ),
        (
            b"[metric]\nevent_key = 'x\n\n[sentry]\n",
            "ldsentry.toml:2: invalid TOML: this string is not closed; add the closing ' before the end of the line",
        ),
        (
            b'[metric]\ndescription = """\nabc\n\n[sentry]\n',
            "ldsentry.toml:2: invalid TOML: this multi-line string is never closed; add the closing \"\"\" or '''",
        ),
        (
            b'[metric]\nevent_key = "x"\nevent_key = "y"\n\n[sentry]\n',
            "ldsentry.toml:3: invalid TOML: 'event_key' is set a second time here; a key may be set only once "
            "(column 16)",
        ),
        (
            b'[metric]\nevent_key = "x"\n[metric]\nname = "a"\n',
            "ldsentry.toml:3: invalid TOML: [metric] is declared a second time here; merge the two tables into one "
            "(column 8)",
        ),
        (
            '# a \u2028 b \u0085 c\n[metric]\nevent_key = "x"\nevent_key = "y"\n'.encode(),
            "ldsentry.toml:4: invalid TOML: 'event_key' is set a second time here; a key may be set only once "
            "(column 16)",
        ),
        (
            b"x = " + b"[" * 500 + b"]" * 500 + b"\n",
            "ldsentry.toml:1: invalid TOML: arrays and inline tables are nested more than 400 levels deep; no "
            "configuration needs that, so this is likely a generated or damaged file",
        ),
        (
            b'[metric]\nevent_key = "x"\n\n' + b"a." * 50_000 + b"b = 1\n",
            # tomli refuses such a key; Python 3.11's tomllib reads it, and ldsentry then says the same.
            "ldsentry.toml:4: invalid TOML: a dotted key has more than 1000 parts; no configuration needs that, "
            "so this is likely a generated or damaged file",
        ),
    ],
    ids=[
        "bom",
        "nul",
        "form-feed",
        "eof-without-value",
        "unterminated",
        "unterminated-literal",
        "unterminated-multiline",
        "duplicate-key",
        "duplicate-table",
        "u2028-nel",
        "deep",
        "100000-character-dotted-key",
    ],
)
def test_syntax_errors_say_what_and_where(runner: CliRunner, isolated_env: Path, data: bytes, expected: str) -> None:
    (isolated_env / "ldsentry.toml").write_bytes(data)

    result = runner.invoke(app, ["validate"])
    as_json = runner.invoke(app, ["validate", "-o", "json"])

    assert result.exit_code == 2
    assert result.stdout.splitlines() == [expected, "✗ ldsentry.toml: 1 problem"]
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["error"]["code"] == "config_invalid"


def test_unicode_line_separators_in_comments_do_not_shift_lines(runner: CliRunner, isolated_env: Path) -> None:
    text = '# a \u2028 b \u0085 c\n[metric]\nevent_key = "x"\n\nbad = 1\n'
    (isolated_env / "ldsentry.toml").write_text(text, encoding="utf-8")

    result = runner.invoke(app, ["validate", "-o", "github"])

    assert result.exit_code == 2
    assert "::error file=ldsentry.toml,line=5,title=unknown_key::unknown key 'bad' in [metric]" in result.stdout


def test_a_100000_character_key_is_named_briefly(runner: CliRunner, isolated_env: Path) -> None:
    code, lines = validate(runner, isolated_env, "[metric]\n" + "k" * 100_000 + " = 1\n")

    assert code == 2
    assert lines == [f"ldsentry.toml:2: unknown key '{'k' * 57}... (100,000 characters)' in [metric]"]


def test_a_key_of_999_parts_is_checked_without_running_out_of_stack(runner: CliRunner, isolated_env: Path) -> None:
    code, lines = validate(runner, isolated_env, '[metric]\nevent_key = "x"\n\n[relay]\n' + "a." * 998 + "b = 1\n")

    assert code == 2
    assert lines == ["ldsentry.toml:5: unknown key 'a' in [relay]"]


def test_a_multiline_string_ending_in_quotes_does_not_hide_the_next_table(
    runner: CliRunner, isolated_env: Path
) -> None:
    text = "[metric]\ndescription = \"\"\"say \"hi\"\"\"\"\nname = '''it's'''''\n\n" + table("a")
    (isolated_env / "ldsentry.toml").write_text(text, encoding="utf-8")

    listed = runner.invoke(app, ["mappings", "list", "-o", "json"])

    assert [m["line"] for m in json.loads(listed.stdout)["mappings"]] == [5]


def test_without_trusted_positions_delete_is_refused_and_create_still_appends(
    runner: CliRunner, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ld_sentry_cli.config.positions._agrees", lambda index, data: False)
    path = isolated_env / "ldsentry.toml"
    path.write_text(table("a"), encoding="utf-8")

    deleted = runner.invoke(app, ["mappings", "delete", *mapping_args("a", "production")])
    created = runner.invoke(app, ["mappings", "create", "--no-verify", *mapping_args("b", "production")])

    assert deleted.exit_code == 2
    assert "ldsentry.toml: ldsentry could not locate the [[mapping]] tables; delete it by hand" in deleted.output
    assert created.exit_code == 0, created.output
    assert created.stdout == "Added b/production → default/production at ldsentry.toml\n"
    assert path.read_text(encoding="utf-8") == table("a") + "\n" + table("b")


@pytest.mark.parametrize(
    "text",
    [
        "[metric]\nname = ",
        '[metric]\nevent_key = "x\n[sentry]\n',
        "[metric]\nevent_key = 'x\n\n[sentry]\n",
        '[metric]\nevent_key = "x"\nevent_key = "y"\n',
        '[metric]\nevent_key = "x"\n[metric]\n',
        'a = """x\n\n',
        "[metric\n",
        "x = sentry\n",
    ],
)
def test_a_decode_error_with_only_a_message_is_worded_the_same(text: str) -> None:
    # tomllib before Python 3.14 gives only "reason (at line L, column C)", no attributes
    with pytest.raises(tomli.TOMLDecodeError) as raised:
        tomli.loads(text)

    message_only = ValueError(str(raised.value))
    assert syntax_problem(text, "f", message_only) == syntax_problem(text, "f", raised.value)
