"""`ldsentry relay serve` under a low descriptor limit, flooded with idle sockets, still takes and forwards webhooks.

The attack of issue 13 §3.2: 1,100 idle sockets under `ulimit -n 1024` made every webhook fail and
cut the forwarder off from LaunchDarkly. Here the relay runs with RLIMIT_NOFILE 256 (its cap is
then 156 connections) and 300 idle sockets are opened against it.
"""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path

import e2e_support as e2e
import httpx
import pytest
from relay_helpers import SENTRY_TOKEN, body_of, config_text, error_created, hook_headers, scenario

from ld_sentry_cli.sandbox import build_app, serve_in_thread

DESCRIPTOR_LIMIT = 256
IDLE_SOCKETS = 300
WAIT_S = 20.0


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_idle_sockets_over_the_descriptor_limit_lock_out_neither_webhooks_nor_the_forwarder(tmp_path: Path) -> None:
    sandbox = build_app(scenario())
    with serve_in_thread(sandbox) as emulator:
        (tmp_path / "ldsentry.toml").write_text(config_text(emulator.url))
        # The shell lowers the limit, then becomes the relay (a preexec_fn is unsafe with the emulator's thread).
        relay = e2e.RelayProcess(
            tmp_path,
            e2e.free_port(),
            {**e2e.relay_env(), "SENTRY_AUTH_TOKEN": SENTRY_TOKEN},
            flush_interval_ms=50,
            launcher=["sh", "-c", f'ulimit -n {DESCRIPTOR_LIMIT} && exec "$@"', "sh"],
        )
        deadline = time.monotonic() + WAIT_S
        relay.start()
        assert relay.process is not None
        idle: list[socket.socket] = []
        try:
            relay.wait_ready(WAIT_S)
            base = f"http://127.0.0.1:{relay.port}"
            for _ in range(IDLE_SOCKETS):
                idle.append(socket.create_connection(("127.0.0.1", relay.port), timeout=WAIT_S))
            started = time.monotonic()
            body = body_of(error_created("a" * 32))
            response = httpx.post(f"{base}/hooks/sentry", content=body, headers=hook_headers(body), timeout=5.0)
            acknowledged_in = time.monotonic() - started
            assert (response.status_code, response.json()["result"]) == (202, "accepted")
            assert acknowledged_in < 2.0

            # The forwarder still reaches LaunchDarkly while the idle sockets are held open.
            while not sandbox.imported_events() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [e.event["contextKeys"]["user"] for e in sandbox.imported_events()] == ["user-123"]
            metrics = httpx.get(f"{base}/metrics", timeout=5.0, trust_env=False).text
        finally:
            for sock in idle:
                sock.close()
            relay.process.send_signal(signal.SIGTERM)
            code = relay.process.wait(WAIT_S)
    text = relay.log_text()
    assert code == 0, text
    assert "accepting up to 156 connections (descriptor limit 256); idle timeout 5 s, read timeout 10 s" in text
    assert (
        "connection cap of 156 reached: closed 1 connection (the oldest idle, or the new one when none was idle) "
        "since the last report; raise the descriptor limit (ulimit -n, LimitNOFILE=) to allow more"
    ) in text
    closed_for_cap = next(
        line
        for line in metrics.splitlines()
        if line.startswith('ldsentry_relay_connections_closed_total{reason="cap"}')
    )
    assert int(closed_for_cap.split()[-1]) >= IDLE_SOCKETS - 156
