"""A real, throwaway PostgreSQL server for the shared-spool tests and the benchmark.

`initdb` and `pg_ctl` from PATH start a server in a temporary folder, listening on a free
loopback port (and a unix socket in that folder), trust authentication for local connections.
PostgreSQL refuses to run as root, so as root it runs as the `postgres` system user (`runuser`).
unavailable_reason() says why none can be started here; what a test does then (skip, or fail under
LDSENTRY_REQUIRE_POSTGRES=1) is the tests' affair (relay_helpers.skip_or_fail), so that
bench/relay.py, which starts its server from here too, needs no pytest.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PostgresServer:
    """A running server: `url(db)` names one of its databases."""

    port: int
    root: Path
    prefix: tuple[str, ...] = ()  # runuser -u postgres -- when running as root

    def url(self, database: str = "postgres") -> str:
        """A postgresql:// URL (no password: trust authentication)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server now (as a crash or an outage would)."""
        subprocess.run(
            [*self.prefix, "pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
        )

    def create_database(self, name: str) -> str:
        """A fresh empty database; its URL."""
        import psycopg  # noqa: PLC0415 - optional (the relay extra): unavailable_reason() reports it missing

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def unavailable_reason() -> str | None:
    """Why no PostgreSQL server can be started here, or None."""
    for tool in ("initdb", "pg_ctl"):
        if shutil.which(tool) is None:
            return f"PostgreSQL is not installed ({tool} is not on PATH)"
    try:
        import psycopg  # noqa: F401, PLC0415 - optional: the tests skip without it
        import psycopg_pool  # noqa: F401, PLC0415 - optional: the tests skip without it
    except ImportError:
        return "psycopg and psycopg-pool are not installed (pip install '.[relay]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is not available"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[PostgresServer]:
    """Start a server for the block; durable=False turns fsync off (tests), True keeps it (benchmarks)."""
    root = Path(tempfile.mkdtemp(prefix="ldsentry-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    port = _free_port()
    subprocess.run(
        [*prefix, "initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
        text=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=100"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    try:
        subprocess.run(
            [*prefix, "pg_ctl", "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start"],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as err:
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {err.stderr}\n{log}") from None
    server = PostgresServer(port, root, tuple(prefix))
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
