"""Keep tokens, SDK keys and webhook secrets out of every output and log.

Two layers: values ldsentry knows are secret (the tokens it read from the environment) are
replaced wherever they appear, and anything shaped like a LaunchDarkly or Sentry credential is
masked even when ldsentry did not know it (an SDK key echoed by an API, a token in a URL).
"""

from __future__ import annotations

import os
import re

REDACTED = "[REDACTED]"

# Environment variables whose values are secrets wherever they appear.
SECRET_ENV_VARS = (
    "LD_ACCESS_TOKEN",
    "LAUNCHDARKLY_ACCESS_TOKEN",
    "SENTRY_AUTH_TOKEN",
    "SENTRY_CLIENT_SECRET",
    "SENTRY_CLIENT_SECRET_PREVIOUS",
)

# Credential shapes: LaunchDarkly access tokens, SDK keys and mobile keys (prefix + UUID), Sentry
# organization and user tokens. Names and keys such as "api-gateway" are not credentials.
_CREDENTIAL = re.compile(
    r"\b(?:api|sdk|mob)-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
    r"|\bsntry[su]_[A-Za-z0-9+/=_\-.]+"
)

_known: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that redact() removes it from any text."""
    if value and len(value) >= 4:
        _known.add(value)


def register_environment_secrets() -> None:
    """Register the values of every secret environment variable that is set."""
    for name in SECRET_ENV_VARS:
        register_secret(os.environ.get(name))


# A user name or password in a URL: scheme://USERINFO@host. The config refuses either; output masks the
# whole user-info part wherever it holds a password (a bare user name, such as a database user or the
# USER in postgresql://USER@HOST, is not a secret).
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/?#@\s]+)@")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/?#@\s:]*:[^/?#@\s]*)@")
URL_USERINFO_MASK = "***"
# libpq also reads a password from a URL's query (postgresql://USER@HOST/DB?password=...). Its value ends
# at the next parameter, a fragment, whitespace, a quote, or a colon that ends the sentence around it.
_URL_QUERY_PASSWORD = re.compile(r"""(?i)([?&]password=)(?:[^&#\s"':]|:(?!\s|$))+""")


def looks_like_credential(value: str) -> bool:
    """True when the value has the shape of a LaunchDarkly or Sentry credential."""
    return bool(_CREDENTIAL.search(value))


def credential_kind(value: str) -> str | None:
    """What the first credential-shaped part of value is: "launchdarkly_token", "sdk_key" or "sentry_token"."""
    match = _CREDENTIAL.search(value)
    if match is None:
        return None
    found = match.group(0)
    if found.startswith("api-"):
        return "launchdarkly_token"
    if found.startswith(("sdk-", "mob-")):
        return "sdk_key"
    return "sentry_token"


def has_url_userinfo(value: str) -> bool:
    """True when value holds a URL with a user name or password (https://user:pass@host)."""
    return bool(_URL_USERINFO.search(value))


def mask_url_userinfo(text: str) -> str:
    """Return text with every URL password masked: the user-info part that holds one, and a `password=` parameter."""
    text = _URL_PASSWORD.sub(rf"\g<1>{URL_USERINFO_MASK}@", text)
    return _URL_QUERY_PASSWORD.sub(rf"\g<1>{URL_USERINFO_MASK}", text)


def redact(text: str) -> str:
    """Return text with every known secret, credential-shaped string and URL password masked."""
    for secret in sorted(_known, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return mask_url_userinfo(_CREDENTIAL.sub(REDACTED, text))
