"""The commented starter configuration that `ldsentry init` writes."""

from __future__ import annotations

import re

import tomlkit

from ld_sentry_cli.config.schema import ld_key_rule
from ld_sentry_cli.constants import DEFAULT_EVENT_KEY


def metric_key_for(event_key: str) -> str | None:
    """The metric key to write beside an event key that is not itself a valid metric key (None if it is).

    Runs of characters a LaunchDarkly key cannot hold become one '-': "my event" gives "my-event".
    """
    if ld_key_rule(event_key) is None:
        return None
    return re.sub(r"[^A-Za-z0-9._-]+", "-", event_key).strip("-")


def starter_config(organization: str | None = None, event_key: str = DEFAULT_EVENT_KEY) -> str:
    """A starter ldsentry.toml: every section explained, valid as written.

    When the event key is not a valid metric key, `[metric] key` is written with metric_key_for's key.
    """
    metric_key = metric_key_for(event_key)
    if metric_key is not None:
        key_line = (
            f"key = {tomlkit.string(metric_key).as_string()}"
            "  # the metric key: the event key holds characters a metric key cannot"
        )
    else:
        key_line = '# key = "sentry-errors"                       # metric key used when ldsentry creates the metric'
    if organization:
        organization_line = f"organization = {tomlkit.string(organization).as_string()}"
    else:
        organization_line = '# organization = "acme"                     # required once a live Sentry check runs'
    return f"""\
# ldsentry configuration: the LaunchDarkly ⇄ Sentry integration as code.
# Review changes to this file like code; check it with `ldsentry validate`.
# Tokens never live here: set LD_ACCESS_TOKEN and SENTRY_AUTH_TOKEN in the environment.

[launchdarkly]
# base_url = "https://app.launchdarkly.com"   # or https://app.eu.launchdarkly.com, https://app.launchdarkly.us

[sentry]
{organization_line}
# base_url = "https://sentry.io"              # or https://us.sentry.io, https://de.sentry.io, self-hosted

[metric]
# The "metric event key" the integration sends; LaunchDarkly matches it exactly.
event_key = {tomlkit.string(event_key).as_string()}
{key_line}
# name = "Sentry errors"
# kind = "binary"                             # "binary" (occurrence per user) or "count" (count per request)

# One table per Sentry project+environment; add them with `ldsentry mappings create`.
# [[mapping]]
# sentry_project = "web-frontend"
# sentry_environment = "production"
# ld_project = "default"
# ld_environment = "production"
"""
