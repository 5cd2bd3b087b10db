"""Sentry webhook signatures: HMAC-SHA256 of the raw body, keyed with the integration's client secret.

Facts from docs/sentry-api.md §7 ("Signature algorithm"): the key is the client secret
(UTF-8), the message is the exact body Sentry sent, the digest is lowercase hex in the
`Sentry-Hook-Signature` header. We verify the raw bytes (never a re-serialisation of the parsed
JSON) and compare in constant time.

Rotation: Sentry shows one client secret per integration and can regenerate it. During the switch
some deliveries are signed with the old secret, so the relay accepts any of several:
`SENTRY_CLIENT_SECRET` may hold a comma-separated list, and `SENTRY_CLIENT_SECRET_PREVIOUS` one more.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence

from ld_sentry_cli.errors import UsageError
from ld_sentry_cli.secrets import register_secret

SECRET_ENV_VAR = "SENTRY_CLIENT_SECRET"  # noqa: S105 (a variable name, not a secret)
PREVIOUS_SECRET_ENV_VAR = "SENTRY_CLIENT_SECRET_PREVIOUS"  # noqa: S105

_HINT = (
    "Copy the Client Secret of your Sentry internal integration (Settings → Developer Settings → "
    "your integration → Credentials) into SENTRY_CLIENT_SECRET; during a rotation, put the old one in "
    "SENTRY_CLIENT_SECRET_PREVIOUS (or list both, comma-separated)."
)


def client_secrets(environ: Mapping[str, str] | None = None) -> tuple[bytes, ...]:
    """Every accepted client secret, newest first, from SENTRY_CLIENT_SECRET[_PREVIOUS] (each registered)."""
    env = os.environ if environ is None else environ
    values: list[str] = []
    for name in (SECRET_ENV_VAR, PREVIOUS_SECRET_ENV_VAR):
        for part in env.get(name, "").split(","):
            secret = part.strip()
            if secret and secret not in values:
                register_secret(secret)
                values.append(secret)
        if not values:  # the previous secret alone is not a configuration: the current one is missing
            raise UsageError("No Sentry client secret: set SENTRY_CLIENT_SECRET.", _HINT)
    return tuple(value.encode("utf-8") for value in values)


def sign(secret: bytes, body: bytes) -> str:
    """The signature Sentry sends for body: lowercase hex HMAC-SHA256."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secrets: Sequence[bytes], body: bytes, signature: str | None) -> bool:
    """True when signature matches body under any of the secrets (constant-time compare per secret)."""
    if not signature:
        return False
    try:
        # Sentry sends lowercase hex; fromhex takes either case, and hex case carries no meaning.
        given = bytes.fromhex(signature.strip())
    except ValueError:
        return False
    matched = False
    for secret in secrets:
        # One-shot OpenSSL HMAC: same digest as hmac.new(...).digest(), less overhead per webhook.
        expected = hmac.digest(secret, body, "sha256")
        # No early exit: the time taken does not tell which secret (if any) matched.
        matched |= hmac.compare_digest(expected, given)
    return matched
