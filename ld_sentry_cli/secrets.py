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


def looks_like_credential(value: str) -> bool:
    """True when the value has the shape of a LaunchDarkly or Sentry credential."""
    return bool(_CREDENTIAL.search(value))


def redact(text: str) -> str:
    """Return text with every known secret and credential-shaped string masked."""
    for secret in sorted(_known, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _CREDENTIAL.sub(REDACTED, text)
