"""Every failure in the documented envelope: Click's usage errors, unexpected exceptions, the machine's own errors."""

from __future__ import annotations

import ast
import errno
import json
import re
from pathlib import Path

import pytest
import typer.main
from emulator_support import Emulator
from support import command_paths
from typer.testing import CliRunner

from ld_sentry_cli import __version__
from ld_sentry_cli.cli import app
from ld_sentry_cli.cli.command_line import requested_format
from ld_sentry_cli.cli.console import json_text
from ld_sentry_cli.errors import ErrorCode, UsageError

ROOT = Path(__file__).resolve().parents[1]


def _error(result: object) -> dict[str, object]:
    document = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert set(document) == {"version", "error"}
    assert document["version"] == 1
    error: dict[str, object] = document["error"]
    return error


def _usage(message: str, command: str) -> dict[str, object]:
    return {"code": "usage_error", "message": message, "hint": f"Run `{command} --help` to see what it accepts."}


# --- Click's own usage errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["validate", "-o", "json", "--bogus"], _usage("No such option: --bogus", "ldsentry validate")),
        (["validate", "--bogus", "--output=json"], _usage("No such option: --bogus", "ldsentry validate")),
        (
            ["events", "check", "-ojson", "--since", "5x"],
            _usage(
                "Invalid value for '--since': '5x' is not a period such as 30m, 24h or 7d (units: s, m, h, d, w).",
                "ldsentry events check",
            ),
        ),
        (
            ["mappings", "create", "--output", "json", "--sentry-project", "web"],
            _usage("Missing option '--sentry-environment'.", "ldsentry mappings create"),
        ),
        (["stauts", "-o", "json"], _usage("No such command 'stauts'. Did you mean 'status'?", "ldsentry")),
        (["--bogus", "status", "-o", "json"], _usage("No such option: --bogus", "ldsentry")),
    ],
)
def test_click_usage_errors_are_the_json_error_document(
    runner: CliRunner, args: list[str], expected: dict[str, object]
) -> None:
    result = runner.invoke(app, args)

    assert result.exit_code == 2
    assert _error(result) == expected
    assert result.stderr == ""


def test_click_usage_errors_are_annotations_under_github(runner: CliRunner) -> None:
    result = runner.invoke(app, ["status", "--bogus", "-o", "github"])

    assert result.exit_code == 2
    assert result.stdout == (
        "::error title=usage_error::No such option: --bogus%0ARun `ldsentry status --help` to see what it accepts.\n"
    )
    assert result.stderr == (
        "error: No such option: --bogus\nhint: Run `ldsentry status --help` to see what it accepts.\n"
    )


def test_click_usage_errors_stay_clicks_own_in_table_format(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", "--bogus"])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.endswith("Try 'ldsentry validate -h' for help.\n\nError: No such option: --bogus\n")


def test_a_format_the_command_does_not_offer_is_not_used(runner: CliRunner) -> None:
    # doctor prints table or json only: `-o github` is itself a usage error, reported by Click.
    result = runner.invoke(app, ["doctor", "-o", "github", "--bogus"])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Error: No such option: --bogus" in result.stderr


ROOT_COMMAND = typer.main.get_command(app)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["status", "-o", "json"], "json"),
        (["status", "--output=github"], "github"),
        (["status", "-ojunit"], "junit"),
        (["status", "-o", "json", "--bogus", "-o", "github"], "github"),  # the last one wins, as in Click
        (["status", "-o", "xml"], None),  # not a choice of status
        (["doctor", "-o", "github"], None),
        (["status", "--config", "-o", "json"], None),  # `-o` is the value of --config; json is a stray word
        (["mappings", "create", "--sentry-project", "-o", "-o", "json"], "json"),
        (["status", "--", "-o", "json"], None),
        (["status", "-o"], None),
        (["-c", "x.toml", "status", "-o", "json"], "json"),
        (["nosuch", "--output", "json"], "json"),  # an unknown command: the spelling alone decides
        (["nosuch", "-o", "junit"], None),
        (["sandbox", "serve", "-o", "json"], None),  # a command without --output
    ],
)
def test_requested_format_reads_the_command_line_as_click_would(args: list[str], expected: str | None) -> None:
    assert requested_format(ROOT_COMMAND, args) == expected


# --- unexpected errors ----------------------------------------------------------------------------


def _explode(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr("ld_sentry_cli.config.loader.check_text", explode)
    monkeypatch.setattr("ld_sentry_cli.config.check_text", explode)
    monkeypatch.setattr("ld_sentry_cli.cli.validate_cmd.check_text", explode)
    Path("ldsentry.toml").write_text("[metric]\n", encoding="utf-8")


@pytest.fixture
def crash_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Where ldsentry writes its crash log in this test (XDG_CACHE_HOME points to a fresh folder)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "ldsentry" / "crash.log"


def test_unexpected_error_is_one_line_and_a_crash_log(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, crash_log: Path
) -> None:
    _explode(monkeypatch, RuntimeError("boom with api-12345678-1234-1234-1234-123456789abc"))
    monkeypatch.setenv("LD_ACCESS_TOKEN", "my-ld-token-value")

    result = runner.invoke(app, ["validate", "--config", "ldsentry.toml"])

    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == (
        "error: unexpected RuntimeError: boom with [REDACTED]\n"
        f"hint: The details are in {crash_log} (`ldsentry --debug ...` shows them here); "
        "please report it with that file if it persists.\n"
    )
    text = crash_log.read_text(encoding="utf-8")
    assert text.startswith(f"# ldsentry crash log: attach it to a bug report\n\nldsentry: {__version__}\npython: ")
    assert "\nplatform: " in text
    assert "\ncommand: ldsentry validate --config ldsentry.toml\n" in text
    assert "Traceback (most recent call last)" in text
    assert text.endswith("RuntimeError: boom with [REDACTED]\n")
    assert "api-12345678" not in text
    assert crash_log.stat().st_mode & 0o777 == 0o600


def test_unexpected_error_shows_the_traceback_only_under_debug(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    _explode(monkeypatch, RuntimeError("boom"))

    plain = runner.invoke(app, ["validate"])
    before = runner.invoke(app, ["--debug", "validate"])
    after = runner.invoke(app, ["validate", "--debug"])

    assert "Traceback" not in plain.stderr
    for debug in (before, after):
        assert debug.exit_code == 3
        assert debug.stderr.startswith("Traceback (most recent call last)")
        assert "error: unexpected RuntimeError: boom\n" in debug.stderr


def test_an_unexpected_error_is_the_json_error_document_or_an_annotation_with_its_crash_log(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, crash_log: Path
) -> None:
    _explode(monkeypatch, RuntimeError("boom"))
    hint = (
        f"The details are in {crash_log} (`ldsentry --debug ...` shows them here); "
        "please report it with that file if it persists."
    )

    as_json = runner.invoke(app, ["validate", "-o", "json"])
    logged = crash_log.read_text(encoding="utf-8")
    as_github = runner.invoke(app, ["validate", "-o", "github"])

    assert as_json.exit_code == as_github.exit_code == 3
    assert _error(as_json) == {"code": "internal_error", "message": "unexpected RuntimeError: boom", "hint": hint}
    assert as_json.stderr == ""
    assert "\ncommand: ldsentry validate -o json\n" in logged
    assert as_github.stdout == f"::error title=internal_error::unexpected RuntimeError: boom%0A{hint}\n"


def test_an_unexpected_error_outside_any_command_is_reported_too(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, crash_log: Path
) -> None:
    # The root callback runs before any command's own error handling.
    def explode(debug: bool) -> None:
        raise RuntimeError("early")

    monkeypatch.setattr("ld_sentry_cli.cli.configure", explode)

    as_json = runner.invoke(app, ["validate", "-o", "json"])
    as_text = runner.invoke(app, ["validate"])

    assert as_json.exit_code == as_text.exit_code == 3
    assert _error(as_json)["message"] == "unexpected RuntimeError: early"
    assert as_text.stderr.startswith("error: unexpected RuntimeError: early\nhint: The details are in ")
    assert "Traceback" not in as_text.stderr


def test_the_crash_log_falls_back_to_a_temporary_file(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    _explode(monkeypatch, RuntimeError("boom"))

    result = runner.invoke(app, ["validate", "-o", "json"])

    hint = _error(result)["hint"]
    assert isinstance(hint, str)
    found = re.fullmatch(r"The details are in (\S+) \(.*", hint)
    assert found is not None
    log = Path(found.group(1))
    assert log.parent == tmp_path
    assert log.name.startswith("ldsentry-crash-")
    assert "RuntimeError: boom" in log.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("error", "message", "hint"),
    [
        (
            OSError(errno.EROFS, "Read-only file system", "/srv/ldsentry.toml"),
            "cannot write /srv/ldsentry.toml: the file system is read-only",
            "Work on a copy on a writable file system, or make this one writable.",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "/srv/ldsentry.toml"),
            "cannot write /srv/ldsentry.toml: no space left on the device",
            "Free some disk space and run it again.",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/srv/ldsentry.toml"),
            "permission denied for /srv/ldsentry.toml",
            "Check the permissions of the file and of its folder, or run ldsentry as a user who may use them.",
        ),
    ],
)
def test_the_machines_own_errors_say_what_to_do(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, crash_log: Path, error: OSError, message: str, hint: str
) -> None:
    _explode(monkeypatch, error)

    as_text = runner.invoke(app, ["validate"])
    as_json = runner.invoke(app, ["validate", "-o", "json"])

    assert as_text.exit_code == as_json.exit_code == 2
    assert as_text.stderr == f"error: {message}\nhint: {hint}\n"
    assert _error(as_json) == {"code": "file_error", "message": message, "hint": hint}
    assert not crash_log.parents[1].exists()  # not a bug: no crash log, nor a cache folder for one


# --- usage_error, non-finite numbers, NaN in JSON -------------------------------------------------


def test_usage_errors_have_their_own_code(runner: CliRunner) -> None:
    Path("ldsentry.toml").write_text('[metric]\nevent_key = "sentry-errors"\n', encoding="utf-8")

    result = runner.invoke(app, ["events", "check", "-o", "json"])

    assert UsageError("x").code is ErrorCode.USAGE_ERROR
    assert result.exit_code == 2
    assert _error(result) == {
        "code": "usage_error",
        "message": "ldsentry.toml has no mappings",
        "hint": "Run `ldsentry mappings list` to see the mappings.",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["events", "check", "--min-usable", "nan"], "Invalid value for '--min-usable': nan is not a finite number."),
        (["events", "check", "--event-rate", "inf"], "Invalid value for '--event-rate': inf is not a finite number."),
        (
            ["relay", "backfill", "--event-rate", "-inf"],
            "Invalid value for '--event-rate': -inf is not in the range x>=0.1.",
        ),
        (["sandbox", "serve", "--latency-ms", "nan"], "Invalid value for '--latency-ms': nan is not a finite number."),
        (["sandbox", "serve", "--fail-rate", "NaN"], "Invalid value for '--fail-rate': nan is not a finite number."),
    ],
)
def test_numbers_must_be_finite(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)

    assert result.exit_code == 2
    assert result.stderr.endswith(f"Error: {message}\n")


def test_json_output_never_holds_nan(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ld_sentry_cli.cli.validate_cmd._file_json", lambda result: {"share": float("nan")})
    Path("ldsentry.toml").write_text("[metric]\n", encoding="utf-8")

    result = runner.invoke(app, ["validate", "-o", "json"])

    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        json_text({"share": float("inf")})
    assert result.exit_code == 3
    assert "NaN" not in result.stdout
    assert _error(result)["message"] == "unexpected ValueError: Out of range float values are not JSON compliant: nan"


def test_every_error_code_is_documented() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.search(r"Error codes\s+are a fixed set: (.*?)\. `NO_COLOR`", readme, flags=re.S)

    assert listed is not None
    assert re.findall(r"`([a-z_]+)`", listed.group(1)) == [code.value for code in ErrorCode]


# --- --debug and --config on both sides -----------------------------------------------------------


def test_config_goes_before_or_after_the_command(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "x.toml").write_text('[metric]\nevent_key = "ci-errors"\n', encoding="utf-8")

    before = runner.invoke(app, ["--config", "ci/x.toml", "validate"])
    after = runner.invoke(app, ["validate", "-c", "ci/x.toml"])
    both = runner.invoke(app, ["-c", "ci/x.toml", "validate", "--config", "./ci/x.toml"])
    differ = runner.invoke(app, ["-c", "ci/x.toml", "validate", "--config", "other.toml"])

    expected = '✓ ci/x.toml is valid: 0 mappings, event key "ci-errors"\n'
    assert (before.exit_code, before.stdout) == (after.exit_code, after.stdout) == (0, expected)
    assert (both.exit_code, both.stdout) == (0, expected)
    assert differ.exit_code == 2
    assert differ.stderr.endswith(
        "Error: Invalid value for '--config' / '-c': given twice, as ci/x.toml before the command and as "
        "other.toml after it; give it once.\n"
    )


def test_debug_shows_in_every_commands_help(runner: CliRunner) -> None:
    paths = list(command_paths(ROOT_COMMAND))
    commands = [
        path for path in paths if not any(len(other) > len(path) and other[: len(path)] == path for other in paths)
    ]

    assert len(commands) >= 15 and ["relay", "serve"] in map(list, commands)  # the tree is really walked
    for args in commands:
        result = runner.invoke(app, [*args, "--help"])
        assert re.search(r"^  --debug +Show HTTP requests and tracebacks on stderr", result.stdout, flags=re.M), args


def test_debug_after_the_command_logs_requests(runner: CliRunner, emulator: Emulator, demo_config: Path) -> None:
    result = runner.invoke(app, ["metric", "check", "--debug"])

    assert result.exit_code == 1
    assert "debug: ldsentry" in result.stderr
    assert "sandbox-ld-token" not in result.stderr


# --- notes, wrong base URL, ::1 --------------------------------------------------------------------


def test_notes_are_talk_on_stderr_in_table_format(
    runner: CliRunner, emulator: Emulator, demo_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTRY_AUTH_TOKEN")

    result = runner.invoke(app, ["status"])

    assert result.exit_code == 1
    assert "note:" not in result.stdout
    assert result.stderr == (
        "note: The Sentry side was not checked (SENTRY_AUTH_TOKEN is not set); set SENTRY_AUTH_TOKEN and "
        "`[sentry] organization` to check it.\n"
    )


def test_a_launchdarkly_base_url_with_a_wrong_path_is_a_service_error(
    runner: CliRunner, emulator: Emulator, demo_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LD_BASE_URI", emulator.url + "/ld")

    result = runner.invoke(app, ["status"])

    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == (
        "error: The LaunchDarkly base URL looks wrong: LaunchDarkly has no such resource (HTTP 404 on GET "
        "/ld/api/v2/projects): Invalid resource identifier (not_found)\n"
        "hint: Not even the list of projects is found there. Set LD_BASE_URI (or [launchdarkly] base_url) to the "
        "address before /api/v2, for example https://app.launchdarkly.com.\n"
    )


@pytest.mark.parametrize(
    ("host", "warned"), [("::1", False), ("localhost", False), ("127.0.0.2", False), ("0.0.0.0", True)]
)
def test_sandbox_warns_only_when_it_is_exposed(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, host: str, warned: bool
) -> None:
    def serve(sandbox: object, host: str, port: int, on_ready: object) -> None:
        pass  # no socket: only the warning is under test

    monkeypatch.setattr("ld_sentry_cli.sandbox.server.serve_forever", serve)

    result = runner.invoke(app, ["sandbox", "serve", "--host", host])

    assert result.exit_code == 0
    warning = f"warning: listening on {host}: anyone who can reach it can use the emulator\n"
    assert (warning in result.stderr) is warned


# --- structure ------------------------------------------------------------------------------------


def _imports(module: str) -> set[str]:
    tree = ast.parse((ROOT / "ld_sentry_cli" / "cli" / f"{module}.py").read_text(encoding="utf-8"))
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_output_and_the_console_import_no_error_reporting() -> None:
    # cli/output.py and cli/runner.py imported each other; both now write through the leaf console.py.
    assert "ld_sentry_cli.cli.runner" not in _imports("output")
    assert {name for name in _imports("console") if name.startswith("ld_sentry_cli.cli")} == set()
    assert "ld_sentry_cli.cli.console" in _imports("runner") & _imports("output")
