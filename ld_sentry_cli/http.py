"""What both services share over HTTP (httpx): URL safety, auth, retries with backoff, `Retry-After`, redaction.

Both REST clients (launchdarkly.py, sentry.py) build an `ApiSession` and get back parsed JSON or one
of ldsentry's own errors; nothing above them sees httpx. Each service's own conventions (its error
bodies, its rate-limit headers, its paging) live in its client module and reach the session through
a `ServiceConventions` value. See docs/design.md "HTTP".
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import logging
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeAlias, TypeVar
from urllib.parse import urlsplit

import httpx

from ld_sentry_cli import __version__
from ld_sentry_cli.errors import (
    ApiError,
    AuthFailedError,
    MissingTokenError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceConflictError,
    ServiceError,
    UsageError,
)
from ld_sentry_cli.hosts import is_loopback_host
from ld_sentry_cli.secrets import redact, register_secret

logger = logging.getLogger("ldsentry.http")

USER_AGENT = f"ldsentry/{__version__}"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})

ParamValue: TypeAlias = "str | int | bool | Sequence[str | int]"
Params: TypeAlias = "Mapping[str, ParamValue]"
SleepFn = Callable[[float], Awaitable[None]]
ClockFn = Callable[[], float]
Headers = httpx.Headers
Transport = httpx.AsyncBaseTransport  # re-exported so clients and tests need not import httpx

_SessionT = TypeVar("_SessionT", bound="ApiSession")
_ErrorT = TypeVar("_ErrorT", bound=ServiceError)

_MAX_SNIPPET = 160
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
# h11's words (under httpx) for what a server did wrong, said in a user's terms.
_PROTOCOL_REASONS = {"Receive buffer too long": "its response headers are too large"}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: bounded tries, capped exponential backoff and waits."""

    max_attempts: int = 5  # total tries, the first included
    backoff_base: float = 0.2  # seconds before the 2nd try; doubles each time (launchdarkly-api.md §3)
    backoff_cap: float = 8.0
    rate_limit_cap: float = 60.0  # Sentry windows last up to 60 s (sentry-api.md §4.2, §6)
    past_reset_wait: float = 1.0  # a reset already in the past: wait briefly, not zero
    jitter: float = 0.25  # up to this many seconds added to every wait

    def backoff(self, attempt: int) -> float:
        """Exponential delay after the given failed attempt (1-based), before jitter and cap."""
        return float(min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1))))


@dataclass(frozen=True)
class SessionOptions:
    """Tunables shared by both clients; tests inject a transport, an instant sleep and a fixed clock."""

    concurrency: int = 8  # requests in flight per session (docs/design.md "HTTP")
    timeout: float = 30.0
    connect_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    transport: Transport | None = None  # None: httpx's own transport, with the system's proxies
    sleep: SleepFn = asyncio.sleep
    clock: ClockFn = time.time  # wall clock: rate-limit resets are epoch timestamps
    monotonic: ClockFn = time.monotonic  # durations and pacing
    random_fn: Callable[[], float] = random.random  # jitter source


@dataclass(frozen=True)
class ServiceConventions:
    """What one service does its own way; `ApiSession` calls these hooks (docs/design.md "HTTP").

    `error_message` finds the human message in a parsed error body (None: not this service's shape);
    `rate_limit_reset` gives the epoch seconds at which a 429's limit resets (None: no such header).
    """

    name: str
    url_setting: str
    error_message: Callable[[Any], str | None]
    rate_limit_reset: Callable[[Headers], float | None]
    hints: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiResponse:
    """A successful response: status, parsed JSON body (None when empty), headers and `Link` targets by rel."""

    status: int
    body: Any
    headers: Mapping[str, str]
    links: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


class RateLimiter:
    """Space calls to at most `rate` per second (Sentry's event detail allows ~5/s, sentry-api.md §4.3)."""

    def __init__(self, rate: float, *, sleep: SleepFn = asyncio.sleep, monotonic: ClockFn = time.monotonic) -> None:
        if rate <= 0:
            raise UsageError(f"Invalid request rate {rate}: it must be positive.")
        self.interval = 1.0 / rate
        self._sleep = sleep
        self._monotonic = monotonic
        self._next_slot: float | None = None

    async def acquire(self) -> None:
        """Wait for the next free slot; slots are reserved before awaiting, so callers queue fairly."""
        now = self._monotonic()
        slot = now if self._next_slot is None else max(now, self._next_slot)
        self._next_slot = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)


@functools.cache
def _shared_ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~50 ms: once per process, not once per client (the relay and
    # `status` open two). httpx's own builder keeps honouring SSL_CERT_FILE / SSL_CERT_DIR.
    return httpx.create_ssl_context()


def check_token_text(token: str, variable: str) -> None:
    """Refuse a token that cannot travel in an HTTP header, naming the first offending character's position."""
    for position, character in enumerate(token, start=1):
        if not character.isascii() or not character.isprintable():
            raise MissingTokenError(
                f"{variable} has a character that cannot be sent in an HTTP header "
                f"(U+{ord(character):04X} at position {position} of {len(token)}): was it pasted from a document?",
                f"Copy the token again from where it was created and set {variable} to exactly that text.",
            )


def resolve_base_url(candidates: Iterable[str | None], default: str, *, service: str, setting: str) -> str:
    """The first non-blank candidate (flag, environment, config, in that order), validated; else default."""
    for candidate in candidates:
        if candidate and candidate.strip():
            return validate_base_url(candidate, service=service, setting=setting)
    return default


def validate_base_url(url: str, *, service: str, setting: str) -> str:
    """Check a base URL (scheme, host, https unless loopback) and return it without a trailing slash."""
    hint = f"Set {setting} to an address such as https://host."
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise UsageError(redact(f"Invalid {service} base URL {url!r}: it cannot be parsed."), hint) from None
    if parts.scheme not in ("http", "https"):
        raise UsageError(
            redact(f"Invalid {service} base URL {url!r}: it must start with https:// (or http:// for localhost)."),
            hint,
        )
    if not host:
        raise UsageError(redact(f"Invalid {service} base URL {url!r}: it names no host."), hint)
    if parts.username or parts.password:
        # Never echo the URL here: its user-info part may be a credential.
        raise UsageError(f"Invalid {service} base URL: it must not contain a user name or password.", hint)
    if parts.query or parts.fragment:
        raise UsageError(redact(f"Invalid {service} base URL {url!r}: it must not contain a query or fragment."), hint)
    if parts.scheme == "http" and not is_loopback_host(host):
        raise UsageError(
            redact(
                f"Refusing to send the {service} token over plain http to {host}: use https:// "
                "(plain http is allowed only for loopback hosts: localhost, 127.0.0.0/8, ::1)."
            ),
            f"Change {setting} to https://{parts.netloc}{parts.path}.",
        )
    return url.strip().rstrip("/")


def one_line(text: str, limit: int = _MAX_SNIPPET) -> str:
    """Collapse whitespace and truncate, so a server's body never floods an error message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def epoch_seconds(value: str | None) -> float | None:
    """An epoch timestamp from a rate-limit header in seconds, whether the header sent seconds or milliseconds.

    Both units are documented and neither is verified live (launchdarkly-api.md §3, sentry-api.md §6):
    a value this large can only be milliseconds (1e11 s is the year 5138), so either reads right.
    """
    number = _parse_number(value)
    if number is None:
        return None
    return number / 1000.0 if number > 1e11 else number


def _looks_like_html(content_type: str, text: str) -> bool:
    head = text.lstrip()[:15].lower()
    return "html" in content_type.lower() or head.startswith(("<!doctype", "<html", "<head", "<body"))


def _describe_html(text: str) -> str:
    title = _HTML_TITLE.search(text)
    return f"an HTML page titled {one_line(title.group(1), 80)!r}" if title else "an HTML page"


def _generic_error_message(body: Any) -> str | None:
    """A body's message when the service's own shape gave none: a string, else the JSON itself."""
    if isinstance(body, str):
        return one_line(body) or None
    if body is None or body == {}:
        return None
    return one_line(json.dumps(body, sort_keys=True))


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def _parse_number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


class ApiSession:
    """An authenticated, bounded, retrying async HTTP session for one service (LaunchDarkly or Sentry)."""

    def __init__(
        self,
        base_url: str,
        *,
        conventions: ServiceConventions,
        auth_header: str,
        auth_value: str,
        headers: Mapping[str, str] | None = None,
        options: SessionOptions | None = None,
    ) -> None:
        opts = options or SessionOptions()
        if opts.concurrency < 1:
            raise UsageError(f"Invalid concurrency {opts.concurrency}: it must be at least 1.")
        register_secret(auth_value)  # first: nothing below may echo the credential unredacted
        self.conventions = conventions
        self.base_url = validate_base_url(base_url, service=self.service, setting=self.url_setting)
        self.options = opts
        self._headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            **(headers or {}),
            auth_header: auth_value,
        }
        self.requests_sent = 0  # every attempt, retries included (`mappings discover --debug` reports it)
        self._semaphore = asyncio.Semaphore(opts.concurrency)
        self._client: httpx.AsyncClient | None = None
        self._base = httpx.URL(self.base_url)
        self.host = f"{self._base.host}:{self._base.port}" if self._base.port else self._base.host

    @property
    def service(self) -> str:
        """The service's name in messages ("LaunchDarkly", "Sentry")."""
        return self.conventions.name

    @property
    def url_setting(self) -> str:
        """Where the user sets the base URL, for hints."""
        return self.conventions.url_setting

    def rate_limiter(self, rate: float) -> RateLimiter:
        """A pacing limiter sharing this session's injectable sleep and clock."""
        return RateLimiter(rate, sleep=self.options.sleep, monotonic=self.options.monotonic)

    async def __aenter__(self: _SessionT) -> _SessionT:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        # Created lazily so it binds to the event loop that actually runs the requests.
        if self._client is None:
            # Plain http is allowed only to loopback, and _check_target keeps every request on the
            # base URL's scheme and host: such a session never makes a TLS handshake.
            tls = _shared_ssl_context() if self._base.scheme == "https" else False
            pool = self.options.concurrency  # the semaphore already bounds requests in flight
            self._client = httpx.AsyncClient(
                base_url=self.base_url + "/",
                verify=tls,
                headers=self._headers,
                timeout=httpx.Timeout(self.options.timeout, connect=self.options.connect_timeout),
                limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
                # None: httpx's own transport, which also honours the system's proxy settings.
                transport=self.options.transport,
                follow_redirects=False,  # a redirect could carry the token elsewhere; report it instead
            )
        return self._client

    async def get_json(self, path: str, *, params: Params | None = None, limiter: RateLimiter | None = None) -> Any:
        """GET a path and return its parsed JSON body."""
        return (await self.request("GET", path, params=params, limiter=limiter)).body

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool | None = None,
        limiter: RateLimiter | None = None,
    ) -> ApiResponse:
        """Send one request, retrying when allowed; return the parsed response or raise an ldsentry error.

        Only idempotent methods are retried unless the caller says otherwise: a POST that failed on
        the way may have been applied, so only a caller that re-checks first may send it again.
        """
        method = method.upper()
        may_retry = method in IDEMPOTENT_METHODS if retry is None else retry
        policy = self.options.retry
        max_attempts = policy.max_attempts if may_retry else 1
        client = self._http()
        attempt = 0
        while True:
            attempt += 1
            try:
                request = client.build_request(
                    method, path, params=params, json=json_body, content=content, headers=headers
                )
            except httpx.InvalidURL as exc:  # a key or name from the configuration that no URL can carry
                raise UsageError(
                    redact(f"Cannot send {method} {one_line(path, 80)} to {self.service}: {exc}."),
                    "Check the keys and names in the configuration (`ldsentry validate` names their lines).",
                ) from None
            self._check_target(request.url)
            # Only the debug log reads the target; most runs do not pay for redacting it.
            debugging = logger.isEnabledFor(logging.DEBUG)
            target = redact(request.url.raw_path.decode("ascii", "replace")) if debugging else ""
            if limiter is not None:
                await limiter.acquire()
            started = self.options.monotonic()
            try:
                async with self._semaphore:
                    self.requests_sent += 1
                    response = await client.send(request)
            except httpx.TransportError as exc:
                self._log_attempt(
                    method, target, type(exc).__name__, started, attempt=attempt, max_attempts=max_attempts
                )
                if attempt < max_attempts:
                    await self._wait(policy.backoff(attempt), method, target, type(exc).__name__, attempt)
                    continue
                raise self._network_error(exc, attempt, method, resendable=may_retry) from None
            except httpx.RequestError as exc:  # decoding errors, too many redirects: not transient
                raise self._error(
                    ApiError,
                    f"{self.service} sent a response ldsentry cannot read ({method} {request.url.path}): "
                    f"{one_line(str(exc)) or type(exc).__name__}",
                ) from None
            status = response.status_code
            self._log_attempt(method, target, str(status), started, attempt=attempt, max_attempts=max_attempts)
            if 200 <= status < 300:
                links = {rel: link for rel, link in response.links.items() if rel}
                return ApiResponse(status, self._success_body(response, method), response.headers, links)
            transient = status == 429 or (status >= 500 and status != 501)
            if transient and attempt < max_attempts:
                delay = self._header_wait(response) if status == 429 or "retry-after" in response.headers else None
                await self._wait(
                    policy.backoff(attempt) if delay is None else delay, method, target, str(status), attempt
                )
                continue
            error = self._status_error(response, method, attempt)
            if transient and (status == 429 or "retry-after" in response.headers):
                error.retry_after = self._header_wait(response)  # for callers that retry later (the relay)
            raise error

    def _log_attempt(
        self, method: str, target: str, outcome: str, started: float, *, attempt: int, max_attempts: int
    ) -> None:
        # Method, path+query (redacted), outcome, duration, attempt; never headers (they hold the token).
        elapsed_ms = (self.options.monotonic() - started) * 1000
        logger.debug(
            "%s %s -> %s in %.0f ms (attempt %d/%d)",
            method,
            target,
            outcome,
            elapsed_ms,
            attempt,
            max_attempts,
        )

    async def _wait(self, base_delay: float, method: str, target: str, reason: str, attempt: int) -> None:
        policy = self.options.retry
        delay = min(policy.rate_limit_cap, max(0.0, base_delay) + self.options.random_fn() * policy.jitter)
        logger.debug(
            "retrying %s %s in %.2f s after %s (attempt %d/%d)",
            method,
            target,
            delay,
            reason,
            attempt + 1,
            policy.max_attempts,
        )
        await self.options.sleep(delay)

    def _header_wait(self, response: httpx.Response) -> float | None:
        """Seconds to wait before retrying a 429, from the response's headers, or None to back off.

        `Retry-After` (seconds or an HTTP date) wins; else the service's own reset header (docs/design.md "HTTP").
        """
        policy = self.options.retry
        retry_after = response.headers.get("retry-after")
        if retry_after is not None:
            seconds = _parse_number(retry_after)
            if seconds is None:
                try:
                    seconds = email.utils.parsedate_to_datetime(retry_after).timestamp() - self.options.clock()
                except (TypeError, ValueError):
                    seconds = None
            if seconds is not None:
                return seconds if seconds > 0 else policy.past_reset_wait
        reset = self.conventions.rate_limit_reset(response.headers)
        if reset is None:
            return None
        wait = reset - self.options.clock()
        return wait if wait > 0 else policy.past_reset_wait

    def _check_target(self, url: httpx.URL) -> None:
        # The base URL was validated already; this guards absolute URLs (pagination links).
        if url.scheme == "http" and not is_loopback_host(url.host):
            raise UsageError(
                redact(f"Refusing to send the {self.service} token over plain http to {url.host}."),
                f"Use https:// in {self.url_setting}.",
            )
        base = self._base
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise self._error(
                ApiError,
                f"Refusing to send the {self.service} token to {url.host}, which is not {self.host}.",
            )

    def _success_body(self, response: httpx.Response, method: str) -> Any:
        if response.status_code == 204 or not response.content.strip():
            return None
        try:
            return json.loads(response.content)
        except ValueError:
            raise self._not_json_error(response, method) from None

    def _not_json_error(self, response: httpx.Response, method: str) -> ServiceError:
        where = f"HTTP {response.status_code} on {method} {response.request.url.path}"
        text = response.content.decode("utf-8", "replace")
        if _looks_like_html(response.headers.get("content-type", ""), text):
            message = f"{self.service} sent {_describe_html(text)} instead of JSON ({where})"
        else:
            message = f"{self.service} sent a response that is not valid JSON ({where}): {one_line(text)}"
        hint = (
            f"Check the {self.service} base URL ({self.base_url}, set by {self.url_setting}): "
            "a proxy, login page or another server may be answering instead of the API."
        )
        return self._error(ApiError, message, hint, response.status_code)

    def _server_message(self, body: Any) -> str | None:
        message = self.conventions.error_message(body)
        return one_line(message) if message else _generic_error_message(body)

    def _status_error(self, response: httpx.Response, method: str, attempts: int) -> ServiceError:
        status = response.status_code
        where = f"HTTP {status} on {method} {response.request.url.path}"
        text = response.content.decode("utf-8", "replace")
        server_message: str | None
        if not text.strip():
            server_message = None
        elif _looks_like_html(response.headers.get("content-type", ""), text):
            if status < 500 and status != 429:
                # A 4xx HTML page comes from a proxy or a wrong host, not from the API: a 404 here
                # must not read as "the resource does not exist".
                return self._not_json_error(response, method)
            server_message = _describe_html(text)
        else:
            try:
                server_message = self._server_message(json.loads(text))
            except ValueError:
                if status < 500 and status != 429:
                    return self._not_json_error(response, method)
                server_message = one_line(text)
        detail = f": {server_message}" if server_message else ""
        hint = self.conventions.hints.get(status)
        if status == 401:
            return self._error(
                AuthFailedError,
                f"{self.service} rejected the token ({where}){detail}",
                hint or f"Check the {self.service} token.",
                status,
            )
        if status == 403:
            return self._error(
                PermissionDeniedError,
                f"{self.service} denied permission ({where}){detail}",
                hint or f"The {self.service} token may not do this; check its role or scopes.",
                status,
            )
        if status == 404:
            return self._error(NotFoundError, f"{self.service} has no such resource ({where}){detail}", hint, status)
        if status == 409:
            return self._error(
                ServiceConflictError, f"{self.service} reported a conflict ({where}){detail}", hint, status
            )
        if status == 429:
            return self._error(
                RateLimitedError,
                f"{self.service} is still rate limiting after {_attempts(attempts)} ({where}){detail}",
                hint or f"Wait a minute and retry, or lower --concurrency; {self.service} limits request rates.",
                status,
            )
        if status >= 500:
            return self._error(
                ApiError,
                f"{self.service} had a server error after {_attempts(attempts)} ({where}){detail}",
                hint or f"{self.service} may be having an outage; retry later.",
                status,
            )
        if 300 <= status < 400:
            location = response.headers.get("location", "another address")
            return self._error(
                ApiError,
                f"{self.service} redirected the request to {location} ({where})",
                f"ldsentry does not follow redirects; set {self.url_setting} to the final address.",
                status,
            )
        return self._error(ApiError, f"{self.service} refused the request ({where}){detail}", hint, status)

    def _network_error(
        self, exc: httpx.TransportError, attempts: int, method: str, *, resendable: bool
    ) -> NetworkError:
        hint = (
            f"Check your network connection and proxy settings, and that {self.host} is the right "
            f"{self.service} host ({self.url_setting})."
        )
        if isinstance(exc, httpx.TimeoutException):
            message = f"Timed out talking to {self.service} at {self.host} after {_attempts(attempts)}"
            message += f" ({type(exc).__name__})"
        elif isinstance(exc, httpx.RemoteProtocolError):
            reason = _PROTOCOL_REASONS.get(str(exc), one_line(str(exc)) or type(exc).__name__)
            message = f"{self.service} at {self.host} sent no valid HTTP response after {_attempts(attempts)}: {reason}"
        else:
            reason = one_line(str(exc)) or type(exc).__name__
            message = f"Could not reach {self.service} at {self.host} after {_attempts(attempts)}: {reason}"
        if not resendable:
            # The request may have reached the service before the connection failed.
            message += f"; the {method} was not resent, as it may have been applied"
        return self._error(NetworkError, message, hint)

    @staticmethod
    def _error(kind: type[_ErrorT], message: str, hint: str | None = None, status: int | None = None) -> _ErrorT:
        # Every message and hint leaves through redact(): a server may echo a token or SDK key.
        return kind(redact(message), redact(hint) if hint else None, status=status)
