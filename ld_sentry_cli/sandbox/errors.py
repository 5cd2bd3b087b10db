"""Error responses in each service's dialect, and the exceptions route handlers raise to send them.

LaunchDarkly errors are `{"code": ..., "message": ...}` (launchdarkly-api.md §0, "Error body");
Sentry's are `{"detail": ...}` (DRF), except a 429 whose body is a bare JSON string (Sentry notes §6).
"""

from __future__ import annotations

import enum
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ld_sentry_cli.sandbox.ids import uuid_from


class Service(str, enum.Enum):
    """Which emulated API a path belongs to."""

    LAUNCHDARKLY = "launchdarkly"
    EVENT_IMPORT = "event_import"
    SENTRY = "sentry"
    ADMIN = "admin"
    OTHER = "other"


ADMIN_PREFIX = "/_sandbox/"


def service_for(path: str) -> Service:
    """The service a request path belongs to."""
    if path.startswith("/api/v2/") or path == "/api/v2":
        return Service.LAUNCHDARKLY
    if path.startswith("/v2/event-data-import/"):
        return Service.EVENT_IMPORT
    if path.startswith("/api/0/") or path == "/api/0":
        return Service.SENTRY
    if path.startswith(ADMIN_PREFIX):
        return Service.ADMIN
    return Service.OTHER


class LdApiError(Exception):
    """A LaunchDarkly error response."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid_request(message: str) -> LdApiError:
    """LaunchDarkly's 400 `invalid_request` with a message."""
    return LdApiError(400, "invalid_request", message)


async def ld_json_body(request: Request) -> Any:
    """A LaunchDarkly request's JSON body (None when empty); 400 `invalid_request` when it is not JSON."""
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        raise invalid_request("Invalid request body: not JSON") from None


class SentryApiError(Exception):
    """A Sentry error response."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def ld_error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """A LaunchDarkly JSON error (`id` as in the info §Errors example)."""
    body = {"code": code, "message": message, "id": uuid_from("ld-error", code, message)}
    return JSONResponse(body, status_code=status, headers=headers)


SENTRY_NOT_FOUND = "The requested resource does not exist"  # Sentry's ResourceDoesNotExist


def sentry_error_response(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    """A Sentry error: `{"detail": ...}`."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def not_found(service: Service) -> Response:
    """404 for a path no route matches."""
    if service is Service.SENTRY:
        return sentry_error_response(404, SENTRY_NOT_FOUND)
    if service is Service.ADMIN:
        return JSONResponse({"error": "unknown admin route"}, status_code=404)
    return ld_error_response(404, "not_found", "Invalid resource identifier")


def method_not_allowed(service: Service, method: str) -> Response:
    """405 for a known path with the wrong method."""
    if service is Service.SENTRY:
        return sentry_error_response(405, f'Method "{method}" not allowed.')
    return ld_error_response(405, "method_not_allowed", f"Method {method} not allowed")


_GATEWAY_PAGES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def server_error(service: Service, status: int) -> Response:
    """An injected 5xx: the application's JSON for 500, a load balancer's HTML page otherwise."""
    if status in _GATEWAY_PAGES:
        title = _GATEWAY_PAGES[status]
        page = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>\n"
        return Response(page, status_code=status, media_type="text/html")
    if service is Service.SENTRY:
        return JSONResponse({"detail": "Internal Error", "errorId": uuid_from("sentry-500")}, status_code=status)
    return ld_error_response(status, "internal_server_error", "An internal error occurred. Try again later.")


def ld_rate_limited(headers: dict[str, str]) -> Response:
    """A LaunchDarkly 429 (`RateLimitedErrorRep`)."""
    return ld_error_response(429, "rate_limited", "You've exceeded the API rate limit. Try again later.", headers)


def sentry_rate_limited(message: str, headers: dict[str, str]) -> Response:
    """A Sentry 429: the body is a JSON string, and no Retry-After (Sentry notes §6)."""
    return JSONResponse(message, status_code=429, headers=headers)
