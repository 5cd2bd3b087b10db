"""Classify a Sentry event's `contexts.launchdarklyContext` as the LaunchDarkly integration reads it.

The value must be a LaunchDarkly context (docs/launchdarkly-api.md §4.6) once Sentry's
own `type` member is dropped: Sentry's API adds `"type": "default"` and Relay adds
`"type": "launchdarklyContext"` to every custom context (sentry-api.md §4.1).

A single context without `kind` is read as kind `user`. That is the pre-2022 user format, which
LaunchDarkly's Go, Java, .NET and Node SDKs (and so its event pipeline) still parse as a user;
only the Python SDK's `from_dict` insists on `kind`. Calling such events invalid would make
`events check` fail for applications whose events LaunchDarkly accepts.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CONTEXT_NAME = "launchdarklyContext"
LEGACY_KIND = "user"

_KIND = re.compile(r"^[-a-zA-Z0-9._]+$")
# Names normalised by _normalise that someone clearly meant as launchdarklyContext.
_MISNAMES = frozenset({"launchdarklycontext", "launchdarkly", "ldcontext", "launchdarklyctx", "ldctx"})
_SENTRY_MEMBERS = ("type",)
# Placeholders Sentry (scrubbing) or the JavaScript SDK (normalizeDepth) leave instead of a value.
_PLACEHOLDERS = {
    "[Filtered]": "scrubbed by Sentry's data scrubbing",
    "[Object]": "nested too deep for the SDK's normalizeDepth",
    "[Array]": "nested too deep for the SDK's normalizeDepth",
}


class ContextClass(str, enum.Enum):
    """Whether an event's LaunchDarkly context is usable, and if not, why not in one word."""

    USABLE = "usable"
    MISSING = "missing"
    MISNAMED = "misnamed"
    INVALID = "invalid"


@dataclass(frozen=True)
class ContextVerdict:
    """The class of one event's context, the rule that decided it, and for misnamed the rename."""

    context_class: ContextClass
    reason: str
    name: str | None = None  # the context's name in the event, when there is one
    rename: str | None = None  # for misnamed: "'ldContext' → 'launchdarklyContext'"


def _json_type(value: object) -> str:
    """The JSON type of a parsed value with its article: "a string", "an array", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    return "an object" if isinstance(value, Mapping) else f"a {type(value).__name__}"


def _not_object(what: str, value: object) -> str:
    if isinstance(value, str) and value in _PLACEHOLDERS:
        return f'{what} is "{value}" ({_PLACEHOLDERS[value]})'
    return f"{what} is {_json_type(value)}, not an object"


def _kind_error(kind: object) -> str | None:
    if not isinstance(kind, str):
        return f"kind is {_json_type(kind)}, not a string"
    if not kind:
        return "kind is empty"
    if kind == "kind":
        return "kind 'kind' is not allowed"
    if kind == "multi":
        return "kind 'multi' is only allowed at the top level"
    if not _KIND.match(kind):
        return f"kind '{kind}' has characters other than letters, digits, '.', '-' and '_'"
    return None


def _key_error(context: Mapping[str, Any]) -> str | None:
    if "key" not in context:
        return "no key"
    key = context["key"]
    if not isinstance(key, str):
        return f"key is {_json_type(key)}, not a string"
    if not key:
        return "key is empty"
    if key in _PLACEHOLDERS:
        return f'key is "{key}" ({_PLACEHOLDERS[key]})'
    return None


def _strip(context: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in context.items() if name not in _SENTRY_MEMBERS}


def _members(context: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in context.items() if name != "kind"}


def _check(value: object) -> tuple[str | None, str]:
    """(failed rule or None, description) for a launchdarklyContext value."""
    if not isinstance(value, Mapping):
        return _not_object(f"'{CONTEXT_NAME}'", value), ""
    context = _strip(value)
    if context.get("kind") == "multi":
        members = _members(context)
        if not members:
            return "multi context has no member contexts", ""
        for name, member in members.items():
            error = _kind_error(name)
            if error is None and not isinstance(member, Mapping):
                error = _not_object("the value", member)
            if error is None:
                error = _key_error(member)
            if error is not None:
                return f"member '{name}': {error}", ""
        return None, f"multi context of kinds {', '.join(repr(n) for n in sorted(members))}"
    if "kind" not in context:
        error = _key_error(context)
        return error, "" if error else f"no kind: read as a legacy '{LEGACY_KIND}' context"
    error = _kind_error(context["kind"]) or _key_error(context)
    return error, "" if error else f"single context of kind '{context['kind']}'"


def _normalise(name: str) -> str:
    return re.sub(r"[\s_.\-]", "", name).lower()


def classify(contexts: Mapping[str, Any] | None) -> ContextVerdict:
    """Classify an event's `contexts` object as usable, missing, misnamed or invalid."""
    contexts = contexts or {}
    if CONTEXT_NAME in contexts:
        error, description = _check(contexts[CONTEXT_NAME])
        if error is not None:
            return ContextVerdict(ContextClass.INVALID, error, CONTEXT_NAME)
        return ContextVerdict(ContextClass.USABLE, description, CONTEXT_NAME)
    for name, value in contexts.items():
        if _normalise(name) in _MISNAMES:
            error, _ = _check(value)
            # The rename alone will not do if the value is broken too, so say so.
            also = f"; its value is invalid too: {error}" if error else ""
            return ContextVerdict(
                ContextClass.MISNAMED,
                f"the context is named '{name}', not '{CONTEXT_NAME}'{also}",
                name,
                f"'{name}' → '{CONTEXT_NAME}'",
            )
    return ContextVerdict(ContextClass.MISSING, f"no '{CONTEXT_NAME}' context")


def context_keys(context: Mapping[str, Any]) -> dict[str, str]:
    """The metric-import `contextKeys` (kind → key) of a usable launchdarklyContext value."""
    error, _ = _check(context)
    if error is not None:
        raise ValueError(f"not a usable LaunchDarkly context: {error}")
    stripped = _strip(context)
    if stripped.get("kind") == "multi":
        return {name: member["key"] for name, member in _members(stripped).items()}
    return {stripped.get("kind", LEGACY_KIND): stripped["key"]}
