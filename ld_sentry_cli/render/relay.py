"""`relay status`, `relay retry-dead-letters` and `relay backfill` as tables and versioned JSON.

Only counts, destinations, batch ids and LaunchDarkly's (redacted) answers: never context keys or
attributes, which stay inside the spool.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ld_sentry_cli.relay.backfill import BackfillReport
from ld_sentry_cli.relay.model import DeadLetter, SpoolStats


def age(seconds: float | None) -> str:
    """A short age: `—`, `45s`, `12m 5s`, `3h 20m`, `2d 4h`."""
    if seconds is None:
        return "—"
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def _age_seconds(at: float | None, now: float) -> float | None:
    return None if at is None else round(max(0.0, now - at), 3)


def status_json(path: str, stats: SpoolStats, dead: list[DeadLetter], now: float) -> dict[str, Any]:
    """The JSON document of `relay status` (without the version key)."""
    return {
        "spool": path,
        "queued": stats.queued,
        "delivered": stats.delivered,
        "dead_lettered": stats.dead_lettered,
        "unresolved": stats.unresolved,
        "oldest_queued_age_seconds": _age_seconds(stats.oldest_queued_at, now),
        "destinations": [
            {
                "ld_project": d.destination.ld_project,
                "ld_environment": d.destination.ld_environment,
                "queued": d.queued,
                "delivered": d.delivered,
                "dead_lettered": d.dead_lettered,
                "oldest_queued_age_seconds": _age_seconds(d.oldest_queued_at, now),
                "failed_attempts": d.attempts,
                "next_attempt_in_seconds": (
                    None if d.next_attempt_at is None else round(max(0.0, d.next_attempt_at - now), 3)
                ),
                "last_error": d.last_error if d.attempts else None,
            }
            for d in stats.destinations
        ],
        "dead_letters": [
            {
                "batch_id": letter.batch_id,
                "ld_project": letter.destination.ld_project,
                "ld_environment": letter.destination.ld_environment,
                "events": letter.events,
                "status": letter.status,
                "response": letter.response,
                "failed_age_seconds": _age_seconds(letter.failed_at, now),
            }
            for letter in dead
        ],
    }


def status_table(path: str, stats: SpoolStats, dead: list[DeadLetter], now: float) -> RenderableType:
    """One row per LaunchDarkly destination, then the dead letters and what to do about them."""
    table = Table(title=f"Relay spool {path}")
    table.add_column("LaunchDarkly project/env", no_wrap=True)
    for name in ("Queued", "Delivered", "Dead-lettered", "Oldest queued"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("Retrying", no_wrap=True)
    for d in stats.destinations:
        retrying = "—"
        if d.attempts:
            wait = max(0.0, (d.next_attempt_at or now) - now)
            retrying = f"{d.attempts} failed, next in {age(wait)}"
        table.add_row(
            escape(d.destination.label),
            str(d.queued),
            str(d.delivered),
            str(d.dead_lettered),
            age(_age_seconds(d.oldest_queued_at, now)),
            retrying,
        )
    if stats.unresolved:
        table.add_row(
            "(Sentry project not yet resolved)",
            str(stats.unresolved),
            "—",
            "—",
            age(_age_seconds(stats.oldest_unresolved_at, now)),
            "—",
        )
    oldest = age(_age_seconds(stats.oldest_queued_at, now))
    parts: list[RenderableType] = [
        table,
        Text(
            f"{stats.queued} queued, {stats.delivered} delivered, {stats.dead_lettered} dead-lettered; "
            f"oldest queued: {oldest}"
        ),
    ]
    if dead:
        parts.append(Text("\nDead letters (LaunchDarkly refused these batches):"))
        for letter in dead:
            status = f"HTTP {letter.status}" if letter.status else "no status"
            parts.append(
                Text(f"  {letter.batch_id}  {letter.destination.label}  {letter.events} events  ")
                + Text(f"{status}: {letter.response}")
            )
        parts.append(Text("Fix the cause, then run `ldsentry relay retry-dead-letters` to send them again."))
    return Group(*parts)


def backfill_json(report: BackfillReport) -> dict[str, Any]:
    """The JSON document of `relay backfill` (without the version key)."""
    return {
        "since": report.since,
        "ok": report.ok,
        "enqueued": report.enqueued,
        "mappings": [
            {
                "sentry_project": row.mapping.sentry_project,
                "sentry_environment": row.mapping.sentry_environment,
                "ld_project": row.mapping.ld_project,
                "ld_environment": row.mapping.ld_environment,
                "listed": row.listed,
                "already_seen": row.already_seen,
                "enqueued": row.enqueued,
                "skipped": dict(sorted(row.skipped.items())),
                "error": row.error,
            }
            for row in report.rows
        ],
    }


def backfill_table(report: BackfillReport) -> RenderableType:
    """One row per mapping."""
    table = Table(title=f"Backfill of the last {report.since}")
    table.add_column("Sentry project/env", no_wrap=True)
    table.add_column("LaunchDarkly project/env", no_wrap=True)
    for name in ("Listed", "Already seen", "Enqueued"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("Skipped")
    for row in report.rows:
        m = row.mapping
        skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(row.skipped.items())) or "—"
        if row.error:
            skipped = f"error: {row.error}"
        table.add_row(
            escape(f"{m.sentry_project}/{m.sentry_environment}"),
            escape(f"{m.ld_project}/{m.ld_environment}"),
            str(row.listed),
            str(row.already_seen),
            str(row.enqueued),
            escape(skipped),
        )
    summary = Text(f"{report.enqueued} events added to the spool; a running `ldsentry relay serve` forwards them.")
    return Group(table, summary)
