"""Why a `launchdarklyContext` reaches LaunchDarkly as `[Filtered]`: Sentry's data scrubbing, read setting by setting.

Pure: the caller fetches the project's (and, where the token may, the organization's) scrubbing
settings and hands over sampled contexts. Sentry merges the two levels the way its relay config does
(sentry-api.md §11): a rule is on when the organization requires it or the project enables it (the
project's own switches default to on), and both levels' sensitive and safe fields add up. Custom
contexts are not exempt from any of it, which users meet often (getsentry/sentry#58572, #60570).

What is modelled: the default rules (key names such as `auth` or `token`; values shaped like credit
card numbers, IBANs, US social security numbers, private keys, URLs with credentials or home folder
paths), `sensitiveFields` (case-insensitive parts of key names), `safeFields` (selectors that exempt
a path), and `scrubIPAddresses` (IP addresses in any value). Advanced rules (`relayPiiConfig`) are
not evaluated: they are reported when they could reach the context.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

CONTEXT_PATH = ("contexts", "launchdarklyContext")
FILTERED = "[Filtered]"
IP_REPLACED = "[ip]"  # what `scrubIPAddresses` leaves (relay's `@ip:replace`); the other rules leave FILTERED
# The safe field that exempts the whole context from every rule but advanced ones.
SAFE_FIELD_FIX = "contexts.launchdarklyContext.**"
ESSENTIAL_MEMBERS = ("kind", "key")  # without these, LaunchDarkly cannot use the context

# Sentry's default key-name rule (relay `pii/regexes.rs`, sentry-api.md §4.1).
_DEFAULT_KEY_RULE = re.compile(
    r"password|secret|passwd|api_key|apikey|auth|credentials|mysql_pwd|privatekey|private_key|token|otp|two[-_]factor",
    re.IGNORECASE,
)
# Value shapes the default rules filter wherever they appear.
_DEFAULT_VALUE_RULES = (
    ("a credit card number", re.compile(r"\b(?:\d[ -]*?){13,19}\b")),
    ("an IBAN", re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b")),
    ("a US social security number", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a URL with a user name or password", re.compile(r"\b[a-z0-9+.-]+://[^/@\s:]+(?::[^/@\s]*)?@", re.IGNORECASE)),
    ("a home folder path", re.compile(r"(?:/home/|/Users/|[A-Za-z]:\\Users\\)[^/\\\s]+", re.IGNORECASE)),
)
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


@dataclass(frozen=True)
class ScrubbingSettings:
    """One level's data scrubbing settings, as Sentry's project or organization details give them.

    None means Sentry did not say (an organization read without the right scope, an older server).
    """

    data_scrubber: bool | None = None
    defaults: bool | None = None
    sensitive_fields: tuple[str, ...] = ()
    safe_fields: tuple[str, ...] = ()
    scrub_ip_addresses: bool | None = None
    advanced_rules: str | None = None  # `relayPiiConfig`, JSON text


class ScrubbingSource(Protocol):
    """Where `events check` and `doctor` read the settings (sentry_settings.ScrubbingReader; fakes in tests)."""

    async def project_settings(self, project_slug: str) -> ScrubbingSettings | None:
        """A project's settings; None when the project does not exist."""

    async def organization_settings(self) -> ScrubbingSettings | None:
        """The organization's settings; None when Sentry does not show them."""


@dataclass(frozen=True)
class Risk:
    """One member of the context that a setting filters, or may filter, and the change that stops it."""

    member: str  # its path inside launchdarklyContext, such as `key` or `user.authLevel`
    setting: str  # the setting that does it: dataScrubberDefaults, sensitiveFields, scrubIPAddresses, relayPiiConfig
    why: str
    fix: str
    seen: bool  # a sampled event showed this member as `[Filtered]`
    certain: bool = True  # False for advanced rules, which ldsentry does not evaluate

    @property
    def essential(self) -> bool:
        """True when losing this member makes the whole context unusable (its kind or key)."""
        leaf = self.member.rsplit(".", 1)[-1]
        return leaf in ESSENTIAL_MEMBERS


@dataclass(frozen=True)
class ScrubbingAudit:
    """The risks to the context under the merged settings, and whether the organization's part was known."""

    risks: tuple[Risk, ...]
    organization_known: bool
    exempt: bool  # a safe field already exempts the whole context

    @property
    def essential_risks(self) -> tuple[Risk, ...]:
        """Risks to `kind` or `key`: each makes every affected event useless to LaunchDarkly."""
        return tuple(risk for risk in self.risks if risk.essential)


@dataclass(frozen=True)
class _Merged:
    scrub_data: bool
    defaults: bool
    scrub_ip: bool
    sensitive: tuple[tuple[str, str], ...]  # (field, level)
    safe: tuple[str, ...]
    advanced: tuple[tuple[str, str], ...]  # (JSON text, level)


def merge(project: ScrubbingSettings, organization: ScrubbingSettings | None) -> _Merged:
    """The settings Sentry applies to the project: the organization's requirements or the project's own."""
    org = organization or ScrubbingSettings()
    return _Merged(
        scrub_data=bool(org.data_scrubber) or project.data_scrubber is not False,
        defaults=bool(org.defaults) or project.defaults is not False,
        scrub_ip=bool(org.scrub_ip_addresses) or bool(project.scrub_ip_addresses),
        sensitive=tuple((f, "organization") for f in org.sensitive_fields)
        + tuple((f, "project") for f in project.sensitive_fields),
        safe=org.safe_fields + project.safe_fields,
        advanced=tuple(
            (text, level)
            for text, level in ((org.advanced_rules, "organization"), (project.advanced_rules, "project"))
            if text and text.strip() not in ("", "{}")
        ),
    )


def _members(context: Mapping[str, object], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    """Every leaf member of a context with its value; `type` is Sentry's own, not the context's."""
    for name, value in context.items():
        if not prefix and name == "type":
            continue
        path = (*prefix, str(name))
        if isinstance(value, Mapping):
            yield from _members(value, path)
        else:
            yield path, value


def _selector_matches(selector: str, path: tuple[str, ...]) -> bool:
    """Whether a safe-field selector covers a path: its items, `*` for one, `**` for any, matched at the end."""
    items = [item.strip("'") for item in selector.strip().split(".") if item]
    if not items:
        return False

    def match(i: int, j: int) -> bool:
        if i == len(items):
            return j == len(path)
        if items[i] == "**":
            return any(match(i + 1, k) for k in range(j, len(path) + 1))
        return j < len(path) and items[i] in ("*", path[j]) and match(i + 1, j + 1)

    # A selector names a path from anywhere in the event, not only from its root.
    return any(match(0, start) for start in range(len(path)))


def _value_rule(value: object) -> str | None:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return None
    text = str(value)
    return next((what for what, pattern in _DEFAULT_VALUE_RULES if pattern.search(text)), None)


def _has_ip(value: object) -> bool:
    if not isinstance(value, str):
        return False
    if _IPV4.search(value):
        return True
    try:
        ipaddress.IPv6Address(value.strip("[]"))
    except ValueError:
        return False
    return True


def _advanced_rules_reach_context(text: str) -> bool:
    """Whether any application selector of an advanced rule set could select the context's members."""
    try:
        config = json.loads(text)
    except ValueError:
        return True  # unreadable: Sentry may still apply it, so do not promise it is harmless
    applications = config.get("applications") if isinstance(config, dict) else None
    if not isinstance(applications, dict):
        return False
    broad = ("$string", "$object", "$anything", "**", "contexts", "launchdarklyContext", "$number", "$array")
    return any(any(word in selector for word in broad) for selector in applications)


def audit(
    project: ScrubbingSettings,
    organization: ScrubbingSettings | None,
    samples: Sequence[Mapping[str, object]],
    *,
    project_slug: str,
) -> ScrubbingAudit:
    """Say which members of the context the settings filter (sampled or not), by which setting, and the fix."""
    merged = merge(project, organization)
    # A selector that covers members of any name, at any depth, exempts the whole context.
    unknown = ("\0member",), ("\0object", "\0member")
    exempt = any(all(_selector_matches(s, (*CONTEXT_PATH, *tail)) for tail in unknown) for s in merged.safe)
    seen_filtered: dict[tuple[str, ...], str] = {}
    values: dict[tuple[str, ...], list[object]] = {}
    for context in samples:
        for path, value in _members(context):
            # Value rules replace only the matching part of a string (`user-[Filtered]`), so look inside.
            placeholder = next((p for p in (FILTERED, IP_REPLACED) if isinstance(value, str) and p in value), None)
            if placeholder is not None:
                seen_filtered.setdefault(path, placeholder)
            else:
                values.setdefault(path, []).append(value)
    members = {(name,) for name in ESSENTIAL_MEMBERS} | set(seen_filtered) | set(values)
    fix = (
        f"Add `{SAFE_FIELD_FIX}` to Safe Fields in Sentry (Settings → Projects → {project_slug} → "
        "Security & Privacy), or rename the attribute in the LaunchDarkly context."
    )
    risks: list[Risk] = []
    for path in sorted(members):
        if any(_selector_matches(selector, (*CONTEXT_PATH, *path)) for selector in merged.safe):
            continue
        risk = _risk_for(path, values.get(path, []), merged, fix, seen=seen_filtered.get(path))
        if risk is not None:
            risks.append(risk)
    return ScrubbingAudit(tuple(risks), organization is not None, exempt)


def _risk_for(
    path: tuple[str, ...], values: list[object], merged: _Merged, fix: str, *, seen: str | None
) -> Risk | None:
    member = ".".join(path)
    if seen == IP_REPLACED and merged.scrub_ip:
        why = "Prevent Storing of IP Addresses (scrubIPAddresses) replaced an IP address in it with '[ip]'"
        return Risk(member, "scrubIPAddresses", why, fix, True)
    return _rule_for(path, member, values, merged, fix, seen=seen is not None)


def _rule_for(
    path: tuple[str, ...], member: str, values: list[object], merged: _Merged, fix: str, *, seen: bool
) -> Risk | None:
    # Key rules match the key of any object on the way: a filtered object loses all its members.
    if merged.scrub_data and merged.defaults:
        for name in path:
            if found := _DEFAULT_KEY_RULE.search(name):
                why = f"Sentry's default scrubbing rules filter every value whose key contains {found.group(0)!r}"
                return Risk(member, "dataScrubberDefaults", why, fix, seen)
    if merged.scrub_data:
        for field, level in merged.sensitive:
            if field.strip() and any(field.strip().lower() in name.lower() for name in path):
                why = f"the {level}'s Additional Sensitive Fields (sensitiveFields) include {field.strip()!r}"
                return Risk(member, "sensitiveFields", why, f"Remove {field.strip()!r} from them, or: {fix}", seen)
    if merged.scrub_data and merged.defaults and (shape := next(filter(None, map(_value_rule, values)), None)):
        why = f"Sentry's default scrubbing rules filter values shaped like {shape}"
        return Risk(member, "dataScrubberDefaults", why, fix, seen)
    if merged.scrub_ip and any(map(_has_ip, values)):
        why = "Prevent Storing of IP Addresses (scrubIPAddresses) replaces IP addresses in every value"
        return Risk(member, "scrubIPAddresses", why, fix, seen)
    for text, level in merged.advanced:
        if _advanced_rules_reach_context(text):
            why = f"the {level}'s advanced data scrubbing rules (relayPiiConfig) apply to values like this one"
            return Risk(member, "relayPiiConfig", why, f"Check those rules, or: {fix}", seen, certain=False)
    if seen and merged.scrub_data and merged.defaults:
        # Filtered in a sample, and no key rule explains it: a value rule did, on a value we cannot see.
        why = "Sentry's default scrubbing rules filtered its value (a value shaped like a card number, key or path)"
        return Risk(member, "dataScrubberDefaults", why, fix, seen)
    return None
