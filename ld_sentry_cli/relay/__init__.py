"""`ldsentry relay`: receive Sentry's error webhooks and forward each error, once, into LaunchDarkly.

    Sentry ──POST /hooks/sentry──▶ intake ──▶ spool (SQLite, WAL) ──▶ forwarder ──▶ metric import API
              signature, mapping,     group commit,      batches per destination,
              context rules           dedupe by id       stable payload id, retries

Modules: `signature` (HMAC), `webhook` (payload parsing), `routing` (project id → mapping),
`intake` (the rules, HTTP-free), `spool` (the `Spool` interface), `spool_sqlite` (the embedded
spool), `spool_postgres` (the shared one), `spool_rows` (what both make of their rows), `spools`
(picks one from `--spool`), `worker` (the spool thread and group commit), `forwarder` (batches,
retries, dead letters), `metrics` (Prometheus text), `service` (wiring and lifecycle), `app`,
`server` and `connections` (Starlette, uvicorn and its bounded connections, imported only by
`relay serve`), `backfill`, `settings`. The tables and JSON of the commands are in
render/relay.py. See docs/relay.md.
"""
