"""The configuration schema: every section and key ldsentry accepts, with types, defaults and rules.

This table is the single source for validation, for `docs/config.md` and for the tests that keep
the two in step; a key that is not here is an error.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ld_sentry_cli.constants import (
    DEFAULT_RELAY_BATCH_SIZE,
    DEFAULT_RELAY_FLUSH_INTERVAL_MS,
    DEFAULT_RELAY_HOST,
    DEFAULT_RELAY_PORT,
    DEFAULT_RELAY_SPOOL,
)
from ld_sentry_cli.hosts import is_loopback_host
from ld_sentry_cli.secrets import has_url_userinfo

# Every pattern is used with fullmatch: `$` would also match before a final newline.
# LaunchDarkly project, environment and metric keys: letters, digits, ".", "_", "-".
LD_KEY = re.compile(r"[A-Za-z0-9._-]+")
# Sentry organization and project slugs: lowercase letters, digits, "-", "_".
SENTRY_SLUG = re.compile(r"[a-z0-9_-]+")
# LaunchDarkly context kinds (the metric's randomization units).
CONTEXT_KIND = re.compile(r"[A-Za-z0-9._-]+")
LISTEN = re.compile(r"\[?[A-Za-z0-9.:-]+\]?:(\d{1,5})")
SENTRY_ENVIRONMENT_MAX = 64
# Space separators, line and paragraph separators, control and format (invisible) characters.
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})

Rule = Callable[[object], "str | None"]


def ld_key_rule(value: object) -> str | None:
    """LaunchDarkly keys: letters, digits, '.', '_' and '-'; not '.' or '..'."""
    if not isinstance(value, str) or not LD_KEY.fullmatch(value):
        return "must be a LaunchDarkly key: letters, digits, '.', '_' or '-'"
    if value in (".", ".."):
        return "must be a LaunchDarkly key, not '.' or '..' (they name a folder in an API path)"
    return None


def sentry_slug_rule(value: object) -> str | None:
    """Sentry slugs: lowercase letters, digits, '-' and '_'."""
    if not isinstance(value, str) or not SENTRY_SLUG.fullmatch(value):
        return "must be a Sentry slug: lowercase letters, digits, '-' or '_'"
    return None


def sentry_environment_rule(value: object) -> str | None:
    """Sentry environment names: at most 64 characters, no spaces, '/', invisible characters, not 'None'."""
    if not isinstance(value, str) or not value:
        return "must be a Sentry environment name"
    if len(value) > SENTRY_ENVIRONMENT_MAX:
        return f"must be at most {SENTRY_ENVIRONMENT_MAX} characters (Sentry's limit)"
    if any(ch in value for ch in " /\n\r\t"):
        return "must not contain spaces, '/' or newlines (Sentry's rule)"
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            name = unicodedata.name(char, "a control character")
            return (
                f"contains U+{ord(char):04X} {name} at character {position}: a space or invisible "
                "character that no Sentry environment name holds; retype the name"
            )
    if value == "None":
        return "must not be the string 'None' (Sentry reserves it)"
    return None


def event_key_rule(value: object) -> str | None:
    """Event keys: any non-empty string without leading or trailing whitespace."""
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty event key"
    if value != value.strip():
        return "must not start or end with whitespace (event keys match exactly)"
    return None


def non_empty_rule(value: object) -> str | None:
    """Any non-empty string."""
    if not isinstance(value, str) or not value.strip():
        return "must not be empty"
    return None


def metric_kind_rule(value: object) -> str | None:
    """'binary' (occurrence per context) or 'count' (every error)."""
    if value not in ("binary", "count"):
        return 'must be "binary" or "count"'
    return None


def units_rule(value: object) -> str | None:
    """A non-empty list of LaunchDarkly context kinds."""
    if not isinstance(value, list) or not value:
        return 'must be a non-empty list of context kinds, for example ["user"]'
    for unit in value:
        if not isinstance(unit, str) or not CONTEXT_KIND.fullmatch(unit) or unit in ("kind", "multi"):
            return f"has {unit!r}, which is not a LaunchDarkly context kind"
    return None


def url_rule(value: object) -> str | None:
    """An https URL without a user name or password (plain http only for loopback hosts)."""
    if not isinstance(value, str):
        return "must be a URL"
    if has_url_userinfo(value):
        return "must not hold a user name or password; tokens come from the environment, never from this file"
    try:
        parts = urlsplit(value)
    except ValueError:
        return "must be a full URL starting with https://"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be a full URL starting with https://"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return "must use https (tokens are sent only over https, except to loopback hosts)"
    return None


def listen_rule(value: object) -> str | None:
    """A host:port address with a port from 1 to 65535."""
    match = LISTEN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return 'must be HOST:PORT, for example "127.0.0.1:8787"'
    if not 1 <= int(match.group(1)) <= 65535:
        return "must have a port from 1 to 65535"
    return None


def is_postgres_url(value: str) -> bool:
    """True for a postgresql:// (or postgres://) URL: the relay's shared PostgreSQL spool, not an SQLite file."""
    return value.startswith(("postgresql://", "postgres://"))


def spool_rule(value: object) -> str | None:
    """A path of the SQLite spool, or postgresql://USER@HOST:PORT/DB with no password in it."""
    if not isinstance(value, str) or not value.strip():
        return "must be a file path or a postgresql:// URL"
    if not is_postgres_url(value):
        return None
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return "must be a valid postgresql://USER@HOST:PORT/DB URL"
    if password is not None or "password=" in parts.query:
        return "must not contain a password: set PGPASSWORD, or use ~/.pgpass or a libpq service file"
    return None


def positive_int_rule(value: object) -> str | None:
    """A positive whole number."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return "must be a positive whole number"
    return None


@dataclass(frozen=True)
class Key:
    """One key of a section: its TOML type, whether it is required, its default and its rule."""

    name: str
    type: str  # "string", "integer" or "array of strings": the words used in messages and docs
    doc: str
    required: bool = False
    default: str | None = None  # as documented; the loader computes derived defaults
    rule: Rule | None = None


@dataclass(frozen=True)
class Section:
    """A top-level table (`[name]`) or array of tables (`[[name]]`)."""

    name: str
    doc: str
    keys: tuple[Key, ...]
    array: bool = False

    def key(self, name: str) -> Key | None:
        """The key called name, if the section has one."""
        return next((k for k in self.keys if k.name == name), None)

    @property
    def header(self) -> str:
        """How the section is written in TOML."""
        return f"[[{self.name}]]" if self.array else f"[{self.name}]"


SECTIONS: tuple[Section, ...] = (
    Section(
        "launchdarkly",
        "Where the LaunchDarkly API is. The token comes from LD_ACCESS_TOKEN, never from this file.",
        (
            Key(
                "base_url",
                "string",
                "LaunchDarkly instance: https://app.launchdarkly.com, https://app.eu.launchdarkly.com, "
                "https://app.launchdarkly.us or your own. LD_BASE_URI overrides it.",
                default="https://app.launchdarkly.com",
                rule=url_rule,
            ),
            Key(
                "events_url",
                "string",
                "Events host the relay sends metric events to; derived from base_url when unset.",
                default="derived from base_url",
                rule=url_rule,
            ),
        ),
    ),
    Section(
        "sentry",
        "Where the Sentry API is. The token comes from SENTRY_AUTH_TOKEN, never from this file.",
        (
            Key(
                "organization",
                "string",
                "Sentry organization slug; required once a live Sentry check runs. SENTRY_ORG is used when unset.",
                rule=sentry_slug_rule,
            ),
            Key(
                "base_url",
                "string",
                "Sentry instance: https://sentry.io, https://us.sentry.io, https://de.sentry.io or self-hosted. "
                "SENTRY_URL overrides it.",
                default="https://sentry.io",
                rule=url_rule,
            ),
        ),
    ),
    Section(
        "metric",
        "The LaunchDarkly metric the integration feeds.",
        (
            Key(
                "event_key",
                "string",
                "The metric event key the integration sends; matched exactly and case-sensitively.",
                default="sentry-errors",
                rule=event_key_rule,
            ),
            Key(
                "key",
                "string",
                "Metric key used when ldsentry creates the metric.",
                default="the event key",
                rule=ld_key_rule,
            ),
            Key(
                "name",
                "string",
                "Metric name used on creation.",
                default="Sentry errors",
                rule=non_empty_rule,
            ),
            Key(
                "kind",
                "string",
                '"binary" (did a context see an error: average aggregation) or "count" (how many errors: sum).',
                default="binary",
                rule=metric_kind_rule,
            ),
            Key(
                "units",
                "array of strings",
                "Randomization units (context kinds) used on creation.",
                default='["user"] for binary, ["request"] for count',
                rule=units_rule,
            ),
            Key(
                "description",
                "string",
                "Metric description used on creation.",
                default="Error events forwarded from Sentry (managed by ldsentry)",
                rule=non_empty_rule,
            ),
        ),
    ),
    Section(
        "relay",
        "Settings of `ldsentry relay serve`. The webhook secret comes from SENTRY_CLIENT_SECRET only.",
        (
            Key(
                "listen",
                "string",
                "Address to listen on.",
                default=f"{DEFAULT_RELAY_HOST}:{DEFAULT_RELAY_PORT}",
                rule=listen_rule,
            ),
            Key(
                "spool",
                "string",
                "Path of the SQLite spool, or postgresql://USER@HOST:PORT/DB for one spool shared by several relays.",
                default=DEFAULT_RELAY_SPOOL,
                rule=spool_rule,
            ),
            Key(
                "batch_size",
                "integer",
                "Events per import request.",
                default=str(DEFAULT_RELAY_BATCH_SIZE),
                rule=positive_int_rule,
            ),
            Key(
                "flush_interval_ms",
                "integer",
                "Longest wait before a partial batch is sent.",
                default=str(DEFAULT_RELAY_FLUSH_INTERVAL_MS),
                rule=positive_int_rule,
            ),
        ),
    ),
    Section(
        "mapping",
        "One Sentry project+environment mapped to one LaunchDarkly project+environment. Repeat the table.",
        (
            Key("sentry_project", "string", "Sentry project slug.", required=True, rule=sentry_slug_rule),
            Key(
                "sentry_environment",
                "string",
                "Sentry environment name (case-sensitive).",
                required=True,
                rule=sentry_environment_rule,
            ),
            Key("ld_project", "string", "LaunchDarkly project key.", required=True, rule=ld_key_rule),
            Key("ld_environment", "string", "LaunchDarkly environment key.", required=True, rule=ld_key_rule),
        ),
        array=True,
    ),
)

SECTIONS_BY_NAME = {section.name: section for section in SECTIONS}

# Key names that hold secrets; tokens never live in the config file.
SECRET_KEY_NAMES = frozenset({"token", "access_token", "api_key", "auth_token", "secret", "client_secret", "sdk_key"})
