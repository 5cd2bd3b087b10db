"""Defaults that the command line needs before anything heavier is imported."""

DEFAULT_EVENT_KEY = "sentry-errors"
DEFAULT_METRIC_NAME = "Sentry errors"
