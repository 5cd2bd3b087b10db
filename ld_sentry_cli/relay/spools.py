"""Open the spool a `--spool` names: the SQLite file (the default) or the shared PostgreSQL database.

psycopg is imported only when a postgresql:// URL is given, so SQLite users need no driver.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ld_sentry_cli.relay.model import DeadLetter, SpoolStats
from ld_sentry_cli.relay.settings import SpoolTarget
from ld_sentry_cli.relay.spool import Spool, SpoolError
from ld_sentry_cli.relay.spool_sqlite import (
    DAMAGED_HINT,
    SqliteSpool,
    open_spool_readonly,
    read_dead_letters,
    read_stats,
)


def open_spool(
    target: SpoolTarget, *, exclusive: bool = False, create: bool = True, lease: float | None = None
) -> Spool:
    """The spool at target; exclusive: this process is the relay (an SQLite spool serves one relay)."""
    if isinstance(target, Path):
        return SqliteSpool(target, exclusive=exclusive)
    try:
        from ld_sentry_cli.relay.spool_postgres import LEASE_S, PostgresSpool  # noqa: PLC0415 - psycopg, only for a postgresql:// spool
    except ImportError:
        raise SpoolError(
            "A PostgreSQL spool needs psycopg, which is not installed.",
            "Install the relay extra: pip install 'ldsentry[relay]'.",
        ) from None
    return PostgresSpool(target, create=create, lease=LEASE_S if lease is None else lease)


def read_status(target: SpoolTarget) -> tuple[SpoolStats, list[DeadLetter]]:
    """Counts and dead letters of an existing spool; SpoolError when there is none."""
    if isinstance(target, Path):
        db = open_spool_readonly(target)
        try:
            return read_stats(db), read_dead_letters(db)
        except sqlite3.DatabaseError as err:
            raise _damaged(target, err) from None
        finally:
            db.close()
    spool = open_spool(target, create=False)
    try:
        return spool.stats(), spool.dead_letters()
    finally:
        spool.close()


def requeue_dead_letters(target: SpoolTarget) -> int:
    """Put every dead-lettered event of an existing spool back in its queue; return how many."""
    if isinstance(target, Path):
        open_spool_readonly(target).close()  # refuses a missing or foreign file before opening it for writing
    spool = open_spool(target, create=False)
    try:
        return spool.requeue_dead_letters()
    except sqlite3.DatabaseError as err:
        raise _damaged(target, err) from None
    finally:
        spool.close()


def _damaged(target: SpoolTarget, err: sqlite3.DatabaseError) -> SpoolError:
    return SpoolError(f"Cannot read {target} as the relay spool: {err}.", DAMAGED_HINT)
