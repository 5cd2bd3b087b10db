"""Who is calling: LaunchDarkly raw access tokens and Sentry bearer tokens with scopes.

LaunchDarkly takes the token itself as the `Authorization` value, no "Bearer" (launchdarkly-api.md
§0); Sentry takes `Bearer <token>` and checks the scopes each operation lists (Sentry notes §1).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request

from ld_sentry_cli.sandbox.errors import SENTRY_NOT_FOUND, LdApiError, SentryApiError
from ld_sentry_cli.sandbox.ld_world import LdWorld
from ld_sentry_cli.sandbox.scenario import LdToken, SentryToken
from ld_sentry_cli.sandbox.sentry_world import SentryWorld

# The `security` of each Sentry operation the sandbox serves (any one scope suffices).
ORG_READ = frozenset({"org:read", "org:write", "org:admin"})
PROJECT_READ = frozenset({"project:read", "project:write", "project:admin"})

_FORBIDDEN = "Forbidden. Access to the requested resource was denied."
_NO_PERMISSION = "You do not have permission to perform this action."


def ld_token(world: LdWorld, request: Request) -> LdToken:
    """The LaunchDarkly token of the request, or a 401 exactly as the API words it."""
    token = world.tokens.get(request.headers.get("authorization", ""))
    if token is None:
        raise LdApiError(401, "unauthorized", "Invalid access token")
    return token


def ld_require(token: LdToken, *, write: bool = False) -> None:
    """403 for a token whose role does not allow the action."""
    if token.access == "none" or (write and token.access != "writer"):
        raise LdApiError(403, "forbidden", _FORBIDDEN)


def sentry_token(world: SentryWorld, request: Request) -> SentryToken:
    """The Sentry token of the request; 401 when missing or unknown."""
    token = sentry_token_if_any(world, request)
    if token is None:
        raise SentryApiError(401, "Authentication credentials were not provided.")
    return token


def sentry_token_if_any(world: SentryWorld, request: Request) -> SentryToken | None:
    """The Sentry token of the request, None without `Authorization`; 401 when unknown."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    token = world.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        raise SentryApiError(401, "Invalid token")
    return token


def sentry_require(token: SentryToken, accepted: Iterable[str]) -> None:
    """403 unless the token holds one of the accepted scopes."""
    if not set(token.scopes) & set(accepted):
        raise SentryApiError(403, _NO_PERMISSION)


def sentry_organization(world: SentryWorld, request: Request) -> None:
    """404 unless the path's `organization_id_or_slug` names the sandbox's organization."""
    if not world.matches_organization(request.path_params["organization_id_or_slug"]):
        raise SentryApiError(404, SENTRY_NOT_FOUND)


def sentry_organization_token(world: SentryWorld, request: Request, accepted: Iterable[str]) -> SentryToken:
    """The token of a request under an organization path: 401 without one, 404 for another organization, 403."""
    token = sentry_token(world, request)
    sentry_organization(world, request)
    sentry_require(token, accepted)
    return token
