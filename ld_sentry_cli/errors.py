"""ldsentry's error hierarchy and exit codes (docs/design.md "Exit codes" and "Output").

Every failure a user can meet is one of these errors: each carries a fixed machine code for JSON
output, a human message, an optional hint that says what to do next, and the exit code.
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Sequence
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    """Process exit codes; CI relies on them, so they never change meaning."""

    OK = 0
    PROBLEMS = 1  # checks found problems (red; amber too under --strict)
    USAGE = 2  # usage or configuration error
    SERVICE = 3  # authentication, permission, network or unexpected API response


class ErrorCode(str, enum.Enum):
    """The fixed set of error codes printed in JSON error objects."""

    CONFIG_INVALID = "config_invalid"
    CONFIG_NOT_FOUND = "config_not_found"
    AUTH_FAILED = "auth_failed"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    NETWORK_ERROR = "network_error"
    API_ERROR = "api_error"
    CONFLICT = "conflict"
    USAGE_ERROR = "usage_error"
    FILE_ERROR = "file_error"
    INTERNAL_ERROR = "internal_error"


class LdsentryError(Exception):
    """Base of every error ldsentry reports to the user without a traceback."""

    code: ErrorCode = ErrorCode.API_ERROR
    exit_code: ExitCode = ExitCode.SERVICE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(LdsentryError):
    """The command line or the environment asks for something that cannot be done."""

    code = ErrorCode.USAGE_ERROR
    exit_code = ExitCode.USAGE


class ConfigNotFoundError(LdsentryError):
    """No configuration file where one was expected."""

    code = ErrorCode.CONFIG_NOT_FOUND
    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found in a configuration file, located by file and line."""

    file: str
    line: int | None
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class ConfigInvalidError(LdsentryError):
    """The configuration file has one or more problems."""

    code = ErrorCode.CONFIG_INVALID
    exit_code = ExitCode.USAGE

    def __init__(self, problems: Sequence[ConfigProblem], hint: str | None = None) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        first = self.problems[0] if self.problems else None
        summary = str(first) if count == 1 and first else f"{count} problems in the configuration"
        super().__init__(summary, hint)


class ConflictError(LdsentryError):
    """The change would contradict something that already exists."""

    code = ErrorCode.CONFLICT
    exit_code = ExitCode.USAGE


class MappingRejectedError(LdsentryError):
    """A new mapping names a project or environment that the live API says does not exist."""

    code = ErrorCode.NOT_FOUND
    exit_code = ExitCode.USAGE


class ServiceError(LdsentryError):
    """A remote service (LaunchDarkly, Sentry) failed or refused; exit code 3."""

    code = ErrorCode.API_ERROR
    exit_code = ExitCode.SERVICE
    retry_after: float | None = None  # seconds the service asked to wait (429, or a 5xx with Retry-After)

    def __init__(self, message: str, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class AuthFailedError(ServiceError):
    """The token was missing, malformed or rejected (HTTP 401)."""

    code = ErrorCode.AUTH_FAILED


class PermissionDeniedError(ServiceError):
    """The token is valid but may not do this (HTTP 403)."""

    code = ErrorCode.PERMISSION_DENIED


class NotFoundError(ServiceError):
    """The resource does not exist (HTTP 404)."""

    code = ErrorCode.NOT_FOUND


class RateLimitedError(ServiceError):
    """Still rate limited after the retry budget was spent (HTTP 429)."""

    code = ErrorCode.RATE_LIMITED


class NetworkError(ServiceError):
    """The service could not be reached: DNS, refused connection, timeout, TLS."""

    code = ErrorCode.NETWORK_ERROR


class ApiError(ServiceError):
    """The service answered with something ldsentry cannot use."""

    code = ErrorCode.API_ERROR


class ServiceConflictError(ServiceError):
    """The service refused a create because the resource exists (HTTP 409)."""

    code = ErrorCode.CONFLICT


class MissingTokenError(LdsentryError):
    """A command needs a token that is not in the environment (a usage error, exit 2)."""

    code = ErrorCode.AUTH_FAILED
    exit_code = ExitCode.USAGE


class FileSystemError(LdsentryError):
    """The machine refused a file operation: a read-only file system, a full disk, missing permissions."""

    code = ErrorCode.FILE_ERROR
    exit_code = ExitCode.USAGE


# What to do about the OSErrors a user can fix, by errno; anything else stays unexpected.
_OS_ERRORS = {
    errno.EROFS: (
        "cannot write {path}: the file system is read-only",
        "Work on a copy on a writable file system, or make this one writable.",
    ),
    errno.ENOSPC: ("cannot write {path}: no space left on the device", "Free some disk space and run it again."),
    errno.EACCES: (
        "permission denied for {path}",
        "Check the permissions of the file and of its folder, or run ldsentry as a user who may use them.",
    ),
}
_OS_ERRORS[errno.EPERM] = _OS_ERRORS[errno.EACCES]
if hasattr(errno, "EDQUOT"):  # not on Windows
    _OS_ERRORS[errno.EDQUOT] = (
        "cannot write {path}: the disk quota is exceeded",
        "Free some space in your quota and run it again.",
    )


def file_system_error(error: OSError) -> FileSystemError | None:
    """The FileSystemError that says what to do about error, or None when it is not one a user can fix."""
    known = _OS_ERRORS.get(error.errno) if error.errno is not None else None
    if known is None:
        return None
    message, hint = known
    path = str(error.filename) if error.filename is not None else "a file"
    return FileSystemError(message.format(path=path), hint)


class InternalError(LdsentryError):
    """Something ldsentry did not expect: a bug, reported with a crash log."""

    code = ErrorCode.INTERNAL_ERROR
    exit_code = ExitCode.SERVICE
