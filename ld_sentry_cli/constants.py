"""Defaults that the command line needs before anything heavier is imported."""

DEFAULT_EVENT_KEY = "sentry-errors"
DEFAULT_METRIC_NAME = "Sentry errors"

# Where the LaunchDarkly token is read from, in order (ldcli's name first).
LD_TOKEN_ENV_VARS = ("LD_ACCESS_TOKEN", "LAUNCHDARKLY_ACCESS_TOKEN")

# `[relay]` defaults: the relay applies them, the configuration reference documents them.
DEFAULT_RELAY_HOST = "127.0.0.1"
DEFAULT_RELAY_PORT = 8787
DEFAULT_RELAY_SPOOL = "ldsentry-relay.db"
DEFAULT_RELAY_BATCH_SIZE = 100
DEFAULT_RELAY_FLUSH_INTERVAL_MS = 1000
