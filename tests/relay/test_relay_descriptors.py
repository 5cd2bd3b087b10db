"""`ldsentry relay serve` under a low descriptor limit, flooded with idle sockets, still takes and forwards webhooks.

The attack of issue 13 §3.2: 1,100 idle sockets under `ulimit -n 1024` made every webhook fail and
cut the forwarder off from LaunchDarkly. Here the relay runs with RLIMIT_NOFILE 256 (its cap is
then 156 connections) and 300 idle sockets are opened against it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from relay_helpers import LD_TOKEN, SECRET, SENTRY_TOKEN, body_of, config_text, error_created, hook_headers, scenario

from ld_sentry_cli.sandbox import build_app, serve_in_thread

DESCRIPTOR_LIMIT = 256
IDLE_SOCKETS = 300
WAIT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
def test_idle_sockets_over_the_descriptor_limit_lock_out_neither_webhooks_nor_the_forwarder(tmp_path: Path) -> None:
    sandbox = build_app(scenario())
    with serve_in_thread(sandbox) as emulator:
        (tmp_path / "ldsentry.toml").write_text(config_text(emulator.url))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("LD_", "SENTRY_", "LDSENTRY_"))},
            "LD_ACCESS_TOKEN": LD_TOKEN,
            "SENTRY_AUTH_TOKEN": SENTRY_TOKEN,
            "SENTRY_CLIENT_SECRET": SECRET,
        }
        port = free_port()
        log = tmp_path / "relay.log"
        # The shell lowers the limit, then becomes the relay (a preexec_fn is unsafe with the emulator's thread).
        command = ["sh", "-c", f'ulimit -n {DESCRIPTOR_LIMIT} && exec "$@"', "sh"]
        command += [sys.executable, "-m", "ld_sentry_cli", "relay", "serve", "--port", str(port)]
        command += ["--spool", str(tmp_path / "spool.db"), "--flush-interval-ms", "50"]
        with log.open("wb") as stream:
            relay = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=stream, stderr=subprocess.STDOUT)
        idle: list[socket.socket] = []
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + WAIT_S
            while True:
                assert relay.poll() is None and time.monotonic() < deadline, log.read_text()
                try:
                    if httpx.get(f"{base}/readyz", timeout=1, trust_env=False).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)

            for _ in range(IDLE_SOCKETS):
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=WAIT_S))
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
            relay.send_signal(signal.SIGTERM)
            code = relay.wait(WAIT_S)
    text = log.read_text()
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
