"""`ldsentry relay serve | status | retry-dead-letters | backfill`: forward Sentry errors into LaunchDarkly.

Starlette and uvicorn are imported inside `serve` only, so the other commands (and `--help`) start fast.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ld_sentry_cli.cli import live
from ld_sentry_cli.cli.extras import require_extra
from ld_sentry_cli.cli.options import ConfigOption, EventRateOption, PlainFormat, PlainOutputOption, check_period
from ld_sentry_cli.cli.runner import command_errors, emit_json, redacting_stderr_handler, say, state
from ld_sentry_cli.cli.terminal import stdout_console
from ld_sentry_cli.config import CONFIG_ENV_VAR, load_config, locate_config
from ld_sentry_cli.errors import ExitCode, UsageError
from ld_sentry_cli.launchdarkly import launchdarkly_base_url, launchdarkly_events_base_url, launchdarkly_token
from ld_sentry_cli.listening import bind, url_of
from ld_sentry_cli.models import RelaySettings
from ld_sentry_cli.relay.settings import SpoolTarget, serve_settings, spool_target
from ld_sentry_cli.relay.signature import client_secrets
from ld_sentry_cli.relay.spools import open_spool, read_status, requeue_dead_letters

app = typer.Typer(
    help="Receive Sentry's error webhooks and forward each error into the mapped LaunchDarkly metric.",
    no_args_is_help=True,
)

SpoolOption = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional on Python 3.10 for runtime inspection
    typer.Option(
        "--spool",
        help="The relay's SQLite spool file, or postgresql://USER@HOST:PORT/DB for a spool shared by several relays "
        "(password from PGPASSWORD or ~/.pgpass). Default: [relay] spool in the configuration, "
        "else ./ldsentry-relay.db.",
        show_default=False,
    ),
]


def _log_relay_to_stderr() -> None:
    """Relay logs at INFO on stderr (a service must say what it does); --debug already shows everything."""

    if state.debug:
        return
    logger = logging.getLogger("ldsentry.relay")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    # The relay never logs secrets; masking is the belt to those braces.
    logger.addHandler(redacting_stderr_handler("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _spool_for_reading(spool: str | None, config: Path | None) -> SpoolTarget:
    """--spool, else the configuration's spool; the default spool when no configuration is named or present."""

    if spool is not None:
        return spool_target(spool, RelaySettings(), None)
    path, display = locate_config(config)
    if config is None and not os.environ.get(CONFIG_ENV_VAR) and not path.exists():
        return spool_target(None, RelaySettings(), None)  # no configuration at all
    loaded = load_config(path, display)
    return spool_target(None, loaded.config.relay, loaded.path.parent)


@app.command("serve")
@command_errors
def serve(
    host: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--host", help="Address to listen on. Default: [relay] listen, else 127.0.0.1.", show_default=False
        ),
    ] = None,
    port: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--port", min=0, max=65535, help="Port (0: any free port). Default: [relay] listen, else 8787."),
    ] = None,
    spool: SpoolOption = None,
    batch_size: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--batch-size", min=1, help="Events per import request. Default: [relay] batch_size, else 100."),
    ] = None,
    flush_interval_ms: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--flush-interval-ms",
            min=1,
            help="Longest wait before a partial batch is sent. Default: [relay] flush_interval_ms, else 1000.",
        ),
    ] = None,
    shutdown_timeout: Annotated[
        float,
        typer.Option("--shutdown-timeout", min=0.0, help="Seconds SIGTERM may spend flushing before leaving the rest."),
    ] = 10.0,
    lease: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--lease", min=0.1, hidden=True, help="Seconds a PostgreSQL-spool batch stays claimed (tests shorten it)."
        ),
    ] = None,
    config: ConfigOption = None,
) -> int:
    """Serve POST /hooks/sentry and forward accepted errors to LaunchDarkly until SIGTERM."""
    require_extra("relay", "relay serve")
    from ld_sentry_cli.relay.app import HOOK_PATH, build_app  # noqa: PLC0415 - the relay extra's web stack, imported only when this command runs
    from ld_sentry_cli.relay.forwarder import ForwarderSettings, LaunchDarklyImporter  # noqa: PLC0415 - the relay extra's web stack, imported only when this command runs
    from ld_sentry_cli.relay.server import BACKLOG  # noqa: PLC0415 - the relay extra's web stack, imported only when this command runs
    from ld_sentry_cli.relay.server import serve as run_server  # noqa: PLC0415 - the relay extra's web stack, imported only when this command runs
    from ld_sentry_cli.relay.service import Relay, RelayOptions  # noqa: PLC0415 - the relay extra's web stack, imported only when this command runs

    loaded = load_config(*locate_config(config))
    settings = serve_settings(
        loaded.config.relay,
        config_dir=loaded.path.parent,
        host=host,
        port=port,
        spool=spool,
        batch_size=batch_size,
        flush_interval_ms=flush_interval_ms,
    )
    if not loaded.config.mappings:
        raise UsageError(
            f"{loaded.display} has no mappings, so the relay would forward nothing.",
            "Add one with `ldsentry mappings create`.",
        )
    # Check every credential before binding the port: a relay that cannot forward must not accept.
    secrets = client_secrets()
    token = launchdarkly_token()
    rest_base = launchdarkly_base_url(loaded.config.launchdarkly.base_url)
    events_base = launchdarkly_events_base_url(rest_base, loaded.config.launchdarkly.events_url)
    importer = LaunchDarklyImporter(events_base, token)
    # Webhooks name their project's slug in `url`; the API is only a fallback, when a token happens to be set.
    sentry = live.sentry_client(loaded.config) if live.sentry_token_set() else None
    store = open_spool(settings.spool, exclusive=True, lease=lease)
    relay = Relay(
        loaded.config,
        store,
        secrets=secrets,
        sender=importer,
        projects=sentry,
        options=RelayOptions(
            forwarder=ForwarderSettings(batch_size=settings.batch_size, flush_interval=settings.flush_interval),
            shutdown_timeout=shutdown_timeout,
        ),
        closers=(importer.aclose,) if sentry is None else (importer.aclose, sentry.aclose),
    )
    try:
        sock = bind(settings.host, settings.port, backlog=BACKLOG)
    except OSError as err:
        store.close()
        raise UsageError(
            f"Cannot listen on {settings.host}:{settings.port}: {err.strerror or err}.",
            "Pick another --port or --host, or change [relay] listen.",
        ) from None
    url = url_of(sock)
    _log_relay_to_stderr()

    def started() -> None:
        say(f"ldsentry relay listening on {url}{HOOK_PATH} (spool {store.location}; forwarding to {events_base})")

    if not run_server(build_app(relay), sock, on_started=started, closed_connections=relay.metrics.connections_closed):
        say("error: the relay did not start (see the log above)")
        return ExitCode.SERVICE
    say("ldsentry relay stopped")
    return ExitCode.OK


@app.command("status")
@command_errors
def status(
    spool: SpoolOption = None,
    config: ConfigOption = None,
    output: PlainOutputOption = PlainFormat.TABLE,
) -> int:
    """Queued, delivered and dead-lettered events per LaunchDarkly destination; exit 1 if any are dead-lettered."""
    require_extra("relay", "relay status")
    from ld_sentry_cli.render.relay import status_json, status_table  # noqa: PLC0415 - the relay extra's decoder (msgspec), through relay.backfill

    target = _spool_for_reading(spool, config)
    stats, dead = read_status(target)
    now = time.time()
    if output is PlainFormat.JSON:
        emit_json(status_json(str(target), stats, dead, now))
    else:
        stdout_console().print(status_table(str(target), stats, dead, now))
    return ExitCode.PROBLEMS if stats.dead_lettered else ExitCode.OK


@app.command("retry-dead-letters")
@command_errors
def retry_dead_letters(
    spool: SpoolOption = None,
    config: ConfigOption = None,
    output: PlainOutputOption = PlainFormat.TABLE,
) -> int:
    """Put every dead-lettered event back in its queue; a running relay sends them again."""
    require_extra("relay", "relay retry-dead-letters")

    path = _spool_for_reading(spool, config)
    count = requeue_dead_letters(path)
    if output is PlainFormat.JSON:
        emit_json({"spool": str(path), "requeued": count})
    else:
        typer.echo(f"Re-queued {count} dead-lettered event{'s' if count != 1 else ''} in {path}.")
    return ExitCode.OK


@app.command("backfill")
@command_errors
def backfill(
    since: Annotated[
        str, typer.Option("--since", callback=check_period, help="How far back to read: 30m, 6h, 7d.")
    ] = "6h",
    max_events: Annotated[
        int, typer.Option("--max-events", min=1, max=10000, help="Events to read per mapping, newest first.")
    ] = 1000,
    event_rate: EventRateOption = 5.0,
    spool: SpoolOption = None,
    config: ConfigOption = None,
    output: PlainOutputOption = PlainFormat.TABLE,
) -> int:
    """Spool the recent error events of every mapping (events already seen are not sent twice)."""
    require_extra("relay", "relay backfill")
    from ld_sentry_cli.relay import backfill as domain  # noqa: PLC0415 - the relay extra's decoder (msgspec)
    from ld_sentry_cli.render.relay import backfill_json, backfill_table  # noqa: PLC0415 - the relay extra's decoder (msgspec), through relay.backfill

    loaded = load_config(*locate_config(config))
    if not loaded.config.mappings:
        raise UsageError(f"{loaded.display} has no mappings", hint="Add one with `ldsentry mappings create`.")

    async def work() -> domain.BackfillReport:
        async with live.session(loaded.config, progress="Reading Sentry events") as clients:
            sentry = clients.sentry(event_rate)  # before the spool: a missing token must leave no file behind
            store = open_spool(spool_target(spool, loaded.config.relay, loaded.path.parent))
            try:
                return await domain.backfill(
                    loaded.config.mappings,
                    sentry,
                    domain.SpoolStore(store),
                    loaded.config.metric.event_key,
                    since=since,
                    max_events=max_events,
                    progress=clients.progress,
                )
            finally:
                store.close()

    report = asyncio.run(work())
    if output is PlainFormat.JSON:
        emit_json(backfill_json(report))
    else:
        stdout_console().print(backfill_table(report))
    return ExitCode.OK if report.ok else ExitCode.SERVICE
