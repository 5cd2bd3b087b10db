"""`ldsentry relay status | retry-dead-letters | backfill | serve` through the CLI: outputs and exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from relay_helpers import LD_TOKEN, PROD, SENTRY_TOKEN, STAGING, WEB_ID, config_text, invoke, scenario
from typer.testing import CliRunner

from ld_sentry_cli.models import RelaySettings
from ld_sentry_cli.relay.model import Destination, SpoolEntry, metric_event
from ld_sentry_cli.relay.settings import ServeSettings, parse_listen, serve_settings, spool_target
from ld_sentry_cli.relay.spool_sqlite import SqliteSpool
from ld_sentry_cli.sandbox import RunningServer, build_app, serve_in_thread


def entry(n: int, destination: Destination = PROD, at: float | None = None) -> SpoolEntry:
    return SpoolEntry(
        f"{n:032x}",
        metric_event("sentry-errors", 1, {"user": f"user-{n}"}),
        time.time() - 90 if at is None else at,
        destination,
    )


@pytest.fixture
def filled(spool_path: Path) -> Path:
    """A spool with 3 delivered and 2 queued events for default/production, and a dead letter for staging."""
    spool = SqliteSpool(spool_path)
    spool.add([entry(n) for n in range(5)] + [entry(10, STAGING), entry(11, STAGING)])
    now = time.time()
    batch = spool.claim(PROD, now, 3, 1.0)
    assert batch is not None
    spool.delivered(batch.batch_id, now)
    dead = spool.claim(STAGING, now, 10, 1.0, flush_all=True)
    assert dead is not None
    spool.dead_letter(dead.batch_id, 403, "LaunchDarkly denied permission (HTTP 403 on POST /v2/...)", now)
    spool.close()
    return spool_path


def test_status_json(runner: CliRunner, filled: Path) -> None:
    code, out, err = invoke(runner, "relay", "status", "--spool", str(filled), "--output", "json")
    assert code == 1, err  # dead letters wait for someone: exit 1
    document = json.loads(out)
    assert document["version"] == 1
    assert (document["queued"], document["delivered"], document["dead_lettered"], document["unresolved"]) == (
        2,
        3,
        2,
        0,
    )
    assert 85 <= document["oldest_queued_age_seconds"] <= 120
    prod, staging = document["destinations"]
    assert {k: prod[k] for k in ("ld_project", "ld_environment", "queued", "delivered", "dead_lettered")} == {
        "ld_project": "default",
        "ld_environment": "production",
        "queued": 2,
        "delivered": 3,
        "dead_lettered": 0,
    }
    assert (prod["failed_attempts"], prod["next_attempt_in_seconds"], prod["last_error"]) == (0, None, None)
    assert (staging["queued"], staging["dead_lettered"], staging["oldest_queued_age_seconds"]) == (0, 2, None)
    [letter] = document["dead_letters"]
    assert (letter["ld_environment"], letter["events"], letter["status"]) == ("staging", 2, 403)
    assert letter["response"] == "LaunchDarkly denied permission (HTTP 403 on POST /v2/...)"
    assert "user-" not in out  # context keys stay in the spool


def test_status_table(runner: CliRunner, filled: Path) -> None:
    code, out, _ = invoke(runner, "relay", "status", "--spool", str(filled))
    assert code == 1
    assert "default/production" in out and "default/staging" in out
    assert "2 queued, 3 delivered, 2 dead-lettered; oldest queued: 1m 3" in out
    assert "HTTP 403: LaunchDarkly denied permission" in out
    assert "run `ldsentry relay retry-dead-letters` to send them again" in out


def test_an_empty_queue_exits_0(runner: CliRunner, spool_path: Path) -> None:
    SqliteSpool(spool_path).close()
    code, out, _ = invoke(runner, "relay", "status", "--spool", str(spool_path), "--output", "json")
    assert code == 0
    assert json.loads(out) == {
        "version": 1,
        "spool": str(spool_path),
        "queued": 0,
        "delivered": 0,
        "dead_lettered": 0,
        "unresolved": 0,
        "oldest_queued_age_seconds": None,
        "destinations": [],
        "dead_letters": [],
    }


def test_a_missing_spool_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    code, out, err = invoke(runner, "relay", "status", "--spool", str(tmp_path / "absent.db"))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"error: No relay spool at {tmp_path / 'absent.db'}.",
        "hint: Pass --spool with the path `ldsentry relay serve` uses, or set [relay] spool in the configuration.",
    ]
    code, out, _ = invoke(runner, "relay", "status", "--spool", str(tmp_path / "absent.db"), "--output", "json")
    assert code == 2 and json.loads(out)["error"]["code"] == "usage_error"


def test_the_spool_path_comes_from_the_configuration(runner: CliRunner, tmp_path: Path, filled: Path) -> None:
    (tmp_path / "ldsentry.toml").write_text(
        config_text("https://app.launchdarkly.com", extra=f'\n[relay]\nspool = "{filled.name}"\n')
    )
    code, out, _ = invoke(runner, "relay", "status", "--output", "json")
    assert code == 1 and json.loads(out)["spool"] == filled.name  # relative to the configuration's folder


def test_retry_dead_letters(runner: CliRunner, filled: Path) -> None:
    code, out, _ = invoke(runner, "relay", "retry-dead-letters", "--spool", str(filled))
    assert (code, out) == (0, f"Re-queued 2 dead-lettered events in {filled}.\n")
    code, out, _ = invoke(runner, "relay", "retry-dead-letters", "--spool", str(filled), "--output", "json")
    assert (code, json.loads(out)) == (0, {"version": 1, "spool": str(filled), "requeued": 0})
    code, out, _ = invoke(runner, "relay", "status", "--spool", str(filled), "--output", "json")
    assert code == 0 and json.loads(out)["queued"] == 4


def test_retry_dead_letters_does_not_create_a_spool(runner: CliRunner, tmp_path: Path) -> None:
    code, _, err = invoke(runner, "relay", "retry-dead-letters", "--spool", str(tmp_path / "absent.db"))
    assert code == 2 and err.startswith(f"error: No relay spool at {tmp_path / 'absent.db'}.")
    assert not (tmp_path / "absent.db").exists()


@pytest.fixture
def emulator() -> Iterator[RunningServer]:
    """The emulator on loopback, with recent web-frontend events to backfill."""
    events = [
        {
            "age": "10m",
            "environment": "production",
            "id": "1" * 32,
            "contexts": {"launchdarklyContext": {"kind": "user", "key": "u1", "name": "Sandy"}},
        },
        {
            "age": "20m",
            "environment": "production",
            "id": "2" * 32,
            "contexts": {"launchdarklyContext": {"kind": "user", "key": "u2"}},
        },
        {"age": "30m", "environment": "production", "id": "3" * 32},
        {
            "age": "40m",
            "environment": "production",
            "id": "4" * 32,
            "contexts": {"ld_context": {"kind": "user", "key": "u4"}},
        },
        {"age": "50m", "environment": "staging", "id": "5" * 32, "contexts": {"launchdarklyContext": {"kind": "user"}}},
        {
            "age": "9h",
            "environment": "production",
            "id": "6" * 32,
            "contexts": {"launchdarklyContext": {"kind": "user", "key": "u6"}},
        },
    ]
    world = scenario()
    world["sentry"]["projects"][0]["events"] = events
    with serve_in_thread(build_app(world)) as server:
        yield server


def test_backfill_spools_recent_usable_events_once(
    runner: CliRunner, tmp_path: Path, emulator: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_AUTH_TOKEN", SENTRY_TOKEN)
    (tmp_path / "ldsentry.toml").write_text(config_text(emulator.url))
    spool = tmp_path / "spool.db"
    code, out, err = invoke(runner, "relay", "backfill", "--since", "6h", "--spool", str(spool), "--output", "json")
    assert code == 0, err
    document = json.loads(out)
    rows = {(r["sentry_project"], r["sentry_environment"]): r for r in document["mappings"]}
    web = rows[("web-frontend", "production")]
    assert (web["listed"], web["already_seen"], web["enqueued"]) == (4, 0, 2)
    assert web["skipped"] == {"misnamed_context": 1, "missing_context": 1}
    staging = rows[("web-frontend", "staging")]
    assert (staging["enqueued"], staging["skipped"]) == (0, {"invalid_context": 1})
    assert "Sandy" not in out
    code, out, _ = invoke(runner, "relay", "backfill", "--since", "6h", "--spool", str(spool), "--output", "json")
    again = {(r["sentry_project"], r["sentry_environment"]): r for r in json.loads(out)["mappings"]}
    assert (
        again[("web-frontend", "production")]["already_seen"],
        again[("web-frontend", "production")]["enqueued"],
    ) == (2, 0)
    stored = SqliteSpool(spool)
    assert stored.seen(["1" * 32, "2" * 32, "3" * 32, "6" * 32]) == {"1" * 32, "2" * 32}
    stored.close()


def test_backfill_reports_a_mapping_sentry_does_not_know_and_exits_3(
    runner: CliRunner, tmp_path: Path, emulator: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRY_AUTH_TOKEN", SENTRY_TOKEN)
    extra = (
        '[[mapping]]\nsentry_project = "web-frontend"\nsentry_environment = "nowhere"\n'
        'ld_project = "default"\nld_environment = "staging"\n'
    )
    (tmp_path / "ldsentry.toml").write_text(config_text(emulator.url, extra=extra))
    code, out, _ = invoke(runner, "relay", "backfill", "--spool", str(tmp_path / "s.db"), "--output", "json")
    assert code == 3
    rows = {(r["sentry_project"], r["sentry_environment"]): r for r in json.loads(out)["mappings"]}
    assert rows[("web-frontend", "nowhere")]["error"].endswith("(is the environment or project spelled as in Sentry?)")
    assert rows[("web-frontend", "production")]["enqueued"] == 2  # the other mappings still ran
    code, out, _ = invoke(runner, "relay", "backfill", "--spool", str(tmp_path / "s.db"))
    assert code == 3 and "error: " in out and "0 events added to the spool" in out  # the rest already seen


def test_backfill_without_a_sentry_token_is_exit_2_and_creates_no_spool(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "ldsentry.toml").write_text(config_text("http://127.0.0.1:9"))

    code, out, err = invoke(runner, "relay", "backfill")

    assert (code, out) == (2, "")
    assert err.splitlines()[0] == "error: No Sentry auth token: set SENTRY_AUTH_TOKEN."
    assert not (tmp_path / "ldsentry-relay.db").exists()


def test_serve_refuses_to_start_without_a_client_secret(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTRY_CLIENT_SECRET")
    (tmp_path / "ldsentry.toml").write_text(config_text("http://127.0.0.1:9"))
    code, out, err = invoke(runner, "relay", "serve")
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == "error: No Sentry client secret: set SENTRY_CLIENT_SECRET."
    assert not (tmp_path / "ldsentry-relay.db").exists()


def test_serve_refuses_to_start_without_a_launchdarkly_token(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "ldsentry.toml").write_text(config_text("http://127.0.0.1:9"))
    code, _, err = invoke(runner, "relay", "serve")
    assert code == 2 and err.startswith("error: No LaunchDarkly access token: set LD_ACCESS_TOKEN")


def test_serve_refuses_a_configuration_without_mappings(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "ldsentry.toml").write_text('[sentry]\norganization = "acme"\n')
    code, _, err = invoke(runner, "relay", "serve")
    assert code == 2
    assert err.splitlines()[0] == "error: ldsentry.toml has no mappings, so the relay would forward nothing."


def test_serve_reports_a_port_in_use(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_ACCESS_TOKEN", LD_TOKEN)
    monkeypatch.delenv("SENTRY_AUTH_TOKEN", raising=False)  # not needed: webhooks name their project's slug
    (tmp_path / "ldsentry.toml").write_text(config_text("http://127.0.0.1:9"))
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        code, _, err = invoke(runner, "relay", "serve", "--port", str(port))
    finally:
        taken.close()
    assert code == 2
    assert err.splitlines()[0].startswith(f"error: Cannot listen on 127.0.0.1:{port}: ")


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8787") == ("127.0.0.1", 8787)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    assert parse_listen("0.0.0.0:0") == ("0.0.0.0", 0)


def test_settings_precedence(tmp_path: Path) -> None:
    relay = RelaySettings(listen="0.0.0.0:9999", spool="data/relay.db", batch_size=50, flush_interval_ms=250)
    assert serve_settings(relay, config_dir=tmp_path) == ServeSettings(
        "0.0.0.0",
        9999,
        tmp_path / "data" / "relay.db",
        50,
        0.25,
    )
    assert serve_settings(
        relay, config_dir=tmp_path, host="127.0.0.1", port=0, spool="x.db", batch_size=7, flush_interval_ms=10
    ) == ServeSettings("127.0.0.1", 0, Path("x.db"), 7, 0.01)
    assert serve_settings(RelaySettings(), config_dir=None) == ServeSettings(
        "127.0.0.1", 8787, Path("ldsentry-relay.db"), 100, 1.0
    )
    assert spool_target(None, RelaySettings(spool="/var/lib/ldsentry/spool.db"), tmp_path) == Path(
        "/var/lib/ldsentry/spool.db"
    )


def test_web_project_id_matches_the_fixture() -> None:
    assert WEB_ID == 4505278496


# Spool URLs with a password, as every message shows them.
PASSWORD_URLS = [
    ("postgresql://relay:hunter2@db.internal:5432/ldsentry", "postgresql://***@db.internal:5432/ldsentry"),
    ("postgresql://relay:hunter2@db/ldsentry", "postgresql://***@db/ldsentry"),
    # libpq reads a password from the query too.
    (
        "postgresql://relay@db/ldsentry?sslmode=require&password=hunter2",
        "postgresql://relay@db/ldsentry?sslmode=require&password=***",
    ),
]
NO_PASSWORD = "must not contain a password: set PGPASSWORD, or use ~/.pgpass or a libpq service file"


@pytest.mark.parametrize(("url", "shown"), PASSWORD_URLS)
def test_validate_refuses_a_password_in_the_spool_url_and_never_shows_it(
    runner: CliRunner, tmp_path: Path, url: str, shown: str
) -> None:
    extra = f'[relay]\nspool = "{url}"\n'
    (tmp_path / "ldsentry.toml").write_text(config_text("http://127.0.0.1:9", extra=extra))
    code, out, err = invoke(runner, "validate")
    assert code == 2
    assert f'ldsentry.toml:8: [relay] spool "{shown}" {NO_PASSWORD}' in out + err
    assert "hunter2" not in out + err


@pytest.mark.parametrize(("url", "shown"), PASSWORD_URLS)
def test_serve_refuses_a_password_in_the_spool_option(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, shown: str
) -> None:
    monkeypatch.setenv("LD_ACCESS_TOKEN", LD_TOKEN)
    (tmp_path / "ldsentry.toml").write_text(config_text("http://127.0.0.1:9"))
    code, out, err = invoke(runner, "relay", "serve", "--spool", url)
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == f"error: Invalid spool URL {shown}: it {NO_PASSWORD}."
    assert "hunter2" not in err


def test_a_second_relay_on_one_sqlite_spool_is_refused_and_pointed_to_postgresql(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LD_ACCESS_TOKEN", LD_TOKEN)
    (tmp_path / "ldsentry.toml").write_text(config_text("http://127.0.0.1:9"))
    spool = tmp_path / "spool.db"
    running = SqliteSpool(spool, exclusive=True)  # the first relay
    try:
        code, out, err = invoke(runner, "relay", "serve", "--port", "0", "--spool", str(spool))
    finally:
        running.close()
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert lines[0] == (
        f"error: Another relay is using the spool {spool} (process {os.getpid()}): an SQLite spool serves one relay."
    )
    assert "--spool postgresql://USER@HOST:PORT/DB" in err


def test_a_damaged_spool_is_exit_2_with_a_clear_message(runner: CliRunner, tmp_path: Path) -> None:
    spool = tmp_path / "spool.db"
    SqliteSpool(spool).close()
    spool.write_bytes(b"\x00garbage" * 600)
    code, out, err = invoke(runner, "relay", "status", "--spool", str(spool))
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == f"error: Cannot read {spool} as the relay spool: file is not a database."
    code, _, err = invoke(runner, "relay", "retry-dead-letters", "--spool", str(spool))
    assert (
        code == 2 and err.splitlines()[0] == f"error: Cannot read {spool} as the relay spool: file is not a database."
    )


def test_a_truncated_spool_is_exit_2_with_a_clear_message(runner: CliRunner, tmp_path: Path) -> None:
    # Issue 13 §3.4: a spool truncated under the relay made `status` fail with "unexpected DatabaseError" (exit 3).
    spool = tmp_path / "spool.db"
    store = SqliteSpool(spool)
    store.add([entry(n) for n in range(2000)])
    store.checkpoint()
    with spool.open("r+b") as stream:
        stream.truncate(8192)
    store.add([entry(n) for n in range(2000, 2100)])  # the relay runs on, into its WAL
    code, out, err = invoke(runner, "relay", "status", "--spool", str(spool))
    assert (code, out) == (2, "")
    assert err.splitlines()[:2] == [
        f"error: Cannot read {spool} as the relay spool: database disk image is malformed.",
        "hint: The file is damaged (truncated or overwritten): move it aside and start the relay on a new spool; "
        "events it held and had not forwarded are lost.",
    ]
    code, _, err = invoke(runner, "relay", "retry-dead-letters", "--spool", str(spool))
    assert code == 2 and err.startswith(
        f"error: Cannot use {spool} as the relay spool: database disk image is malformed."
    )
    with contextlib.suppress(sqlite3.DatabaseError):
        store.close()


def test_status_retry_and_backfill_import_no_web_server() -> None:
    # The connection limits (relay/connections.py) are `serve`'s; the other commands read the spool.
    code = (
        "import sys, ld_sentry_cli.cli.relay_cmd, ld_sentry_cli.render.relay, ld_sentry_cli.relay.backfill;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'uvicorn', 'h11', 'httptools', 'starlette'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "[]\n"
