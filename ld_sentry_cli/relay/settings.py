"""Where the relay listens, where its spool is, and how it batches: command line > `[relay]` > defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ld_sentry_cli.config.schema import is_postgres_url, spool_rule
from ld_sentry_cli.constants import (
    DEFAULT_RELAY_BATCH_SIZE,
    DEFAULT_RELAY_FLUSH_INTERVAL_MS,
    DEFAULT_RELAY_HOST,
    DEFAULT_RELAY_PORT,
    DEFAULT_RELAY_SPOOL,
)
from ld_sentry_cli.errors import UsageError
from ld_sentry_cli.models import RelaySettings
from ld_sentry_cli.secrets import mask_url_userinfo

MAX_BATCH_SIZE = 1000  # keeps one import request well under a megabyte
SpoolTarget = Path | str  # a Path: the SQLite spool's file; a str: a postgresql:// URL


@dataclass(frozen=True)
class ServeSettings:
    """Everything `relay serve` needs besides the configuration's mappings and the secrets."""

    host: str
    port: int
    spool: SpoolTarget
    batch_size: int
    flush_interval: float  # seconds


def parse_listen(value: str) -> tuple[str, int]:
    """Split `HOST:PORT` (IPv6 as `[::1]:8787`)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f'Invalid [relay] listen {value!r}: use HOST:PORT, for example "127.0.0.1:8787".')
    return host.strip("[]"), int(port)


def spool_target(explicit: str | None, relay: RelaySettings, config_dir: Path | None) -> SpoolTarget:
    """--spool, else `[relay] spool` (a path relative to the configuration file's folder), else ./ldsentry-relay.db.

    A postgresql:// URL names the shared spool; anything else is the SQLite file.
    """
    value = explicit if explicit is not None else relay.spool
    if not value:
        return Path(DEFAULT_RELAY_SPOOL)
    if is_postgres_url(value):
        problem = spool_rule(value)
        if problem:
            raise UsageError(f"Invalid spool URL {mask_url_userinfo(value)}: it {problem}.")
        return value
    path = Path(value).expanduser()
    if explicit is None and not path.is_absolute() and config_dir is not None:
        return config_dir / path
    return path


def serve_settings(
    relay: RelaySettings,
    *,
    config_dir: Path | None,
    host: str | None = None,
    port: int | None = None,
    spool: str | None = None,
    batch_size: int | None = None,
    flush_interval_ms: int | None = None,
) -> ServeSettings:
    """Merge the command line over `[relay]` over the defaults."""
    listen_host, listen_port = parse_listen(relay.listen) if relay.listen else (DEFAULT_RELAY_HOST, DEFAULT_RELAY_PORT)
    size = batch_size or relay.batch_size or DEFAULT_RELAY_BATCH_SIZE
    if size > MAX_BATCH_SIZE:
        raise UsageError(f"Invalid batch size {size}: at most {MAX_BATCH_SIZE} events go in one import request.")
    interval_ms = flush_interval_ms or relay.flush_interval_ms or DEFAULT_RELAY_FLUSH_INTERVAL_MS
    return ServeSettings(
        host=host or listen_host,
        port=listen_port if port is None else port,
        spool=spool_target(spool, relay, config_dir),
        batch_size=size,
        flush_interval=interval_ms / 1000.0,
    )
