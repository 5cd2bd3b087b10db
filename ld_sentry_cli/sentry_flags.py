"""Sentry's feature-flag change tracking endpoints, used by `ldsentry tracking setup --register-in-sentry`.

`POST /api/0/organizations/{org}/flags/signing-secrets/` is not in Sentry's public API (publish
status PRIVATE, sentry-api.md §12): it may change without notice, so every failure says how to
register the secret in Sentry's settings instead. It shares the Sentry client's `ApiSession`.
"""

from __future__ import annotations

from urllib.parse import quote

from ld_sentry_cli.errors import ApiError, NotFoundError, PermissionDeniedError
from ld_sentry_cli.http import ApiSession
from ld_sentry_cli.secrets import redact, register_secret
from ld_sentry_cli.tracking_models import SECRET_LENGTH

PROVIDER = "launchdarkly"

SCOPE_HINT = (
    "Registering the signing secret needs a Sentry token with org:write (or org:admin) when the organization "
    "already has a LaunchDarkly secret; use such a token, or paste the secret in Sentry under Settings → "
    "Feature Flags → Change Tracking."
)
_UI_HINT = "Register the secret by hand in Sentry under Settings → Feature Flags → Change Tracking."


def signing_secrets_path(organization: str) -> str:
    """The signing-secrets endpoint of an organization."""
    return f"/api/0/organizations/{quote(organization, safe='')}/flags/signing-secrets/"


class SentryFlags:
    """Sentry's flag tracking endpoints for one organization, over the Sentry client's session."""

    def __init__(self, session: ApiSession, organization: str) -> None:
        self.session = session
        self.organization = organization

    async def register_signing_secret(self, secret: str) -> None:
        """Store the organization's LaunchDarkly signing secret, replacing any other (201, empty body)."""
        register_secret(secret)
        if len(secret) != SECRET_LENGTH:
            raise ValueError(f"a LaunchDarkly signing secret has {SECRET_LENGTH} characters")
        try:
            await self.session.request(
                "POST",
                signing_secrets_path(self.organization),
                json_body={"provider": PROVIDER, "secret": secret},
                retry=False,
            )
        except PermissionDeniedError as error:
            raise PermissionDeniedError(error.message, SCOPE_HINT, status=error.status) from None
        except NotFoundError as error:
            raise NotFoundError(
                redact(
                    f"Sentry has no signing-secrets endpoint for organization {self.organization!r} "
                    f"({error.message}); the endpoint is not public and may have changed."
                ),
                _UI_HINT,
                status=error.status,
            ) from None
        except ApiError as error:
            if error.status != 400:
                raise
            raise ApiError(error.message, _UI_HINT, status=error.status) from None
