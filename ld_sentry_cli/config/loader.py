"""Read, parse and validate a configuration file, reporting every problem with its file and line.

Validation never stops at the first problem: a user fixing a file wants the whole list at once.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# tomli is the standard library's tomllib, released with compiled wheels: it reads a 500-mapping
# config in 8 ms where tomllib takes 25 ms on the 2-core CI machine (BENCHMARKS.md).
import tomli

from ld_sentry_cli import secrets
from ld_sentry_cli.config.lines import LineIndex
from ld_sentry_cli.config.schema import SECRET_KEY_NAMES, SECTIONS, SECTIONS_BY_NAME, Section, ld_key_rule
from ld_sentry_cli.errors import ConfigInvalidError, ConfigNotFoundError, ConfigProblem
from ld_sentry_cli.models import (
    Config,
    LaunchDarklySettings,
    MetricKind,
    MetricSettings,
    ProjectMapping,
    RelaySettings,
    SentrySettings,
)
from ld_sentry_cli.suggest import did_you_mean, suggest

_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "array of strings": lambda v: isinstance(v, list),
}
_INIT_HINT = "Run `ldsentry init` to create one, or pass --config PATH."


@dataclass(frozen=True)
class ConfigFile:
    """A configuration file as read from disk: its exact text, the parsed config and its line index."""

    path: Path
    display: str
    text: str
    config: Config
    index: LineIndex


def read_text(path: Path, display: str) -> str:
    """Read a configuration file as UTF-8 text, with clear errors for every way that can fail."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigNotFoundError(f"{display}: no such file", hint=_INIT_HINT) from None
    except IsADirectoryError:
        raise _single(display, None, "not_a_file", "is a directory, not a configuration file") from None
    except PermissionError:
        raise _single(display, None, "unreadable", "permission denied; check the file's permissions") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        message = f"not valid UTF-8 (byte 0x{data[err.start]:02x} at column {column}); save the file as UTF-8"
        raise _single(display, line, "not_utf8", message) from None


def load_config(path: Path, display: str | None = None) -> ConfigFile:
    """Read and validate the configuration at path; raise ConfigInvalidError listing every problem."""
    display = display or str(path)
    text = read_text(path, display)
    config, problems, index = check_text(text, display)
    if problems or config is None or index is None:
        raise ConfigInvalidError(problems)
    return ConfigFile(path=path, display=display, text=text, config=config, index=index)


def check_text(text: str, display: str) -> tuple[Config | None, list[ConfigProblem], LineIndex | None]:
    """Parse and validate TOML text; return the config (None when invalid), every problem and the index."""
    if not text.strip():
        message = "the file is empty; run `ldsentry init --force` to write a starter configuration"
        return None, [ConfigProblem(display, None, "empty_file", message)], None
    # tomli parses 1,000 mappings in 15 ms, tomlkit in about 1 s (BENCHMARKS.md); ldsentry edits
    # the text itself, so tomlkit's comment-preserving document is not needed to validate.
    try:
        data = tomli.loads(text)
    except tomli.TOMLDecodeError as err:
        return None, [_syntax_problem(text, display, err)], None
    index = LineIndex.build(text)
    validator = _Validator(display, index)
    config = validator.run(data)
    return (None if validator.problems else config), validator.problems, index


def _syntax_problem(text: str, display: str, error: ValueError) -> ConfigProblem:
    """Word a syntax error as tomlkit does (it names the offending character); tomli's as a fallback."""
    import tomlkit
    import tomlkit.exceptions

    try:
        tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as err:
        reason = re.sub(r" at line \d+ col \d+$", "", str(err))
        return ConfigProblem(display, err.line, "toml_syntax", f"invalid TOML: {reason} (column {err.col})")
    where = re.search(r"\(at line (\d+), column (\d+)\)$", str(error))
    reason = re.sub(r" \(at line \d+, column \d+\)$", "", str(error))
    line = int(where.group(1)) if where else None
    column = f" (column {where.group(2)})" if where else ""
    return ConfigProblem(display, line, "toml_syntax", f"invalid TOML: {reason}{column}")


def _single(display: str, line: int | None, code: str, message: str) -> ConfigInvalidError:
    return ConfigInvalidError([ConfigProblem(display, line, code, message)])


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime.date, datetime.time)):
        return "a date-time"
    return type(value).__name__


def _secret_hint(section: str) -> str:
    if section == "sentry":
        return "set SENTRY_AUTH_TOKEN in the environment instead"
    if section == "relay":
        return "set SENTRY_CLIENT_SECRET in the environment instead"
    if section == "launchdarkly":
        return "set LD_ACCESS_TOKEN in the environment instead"
    return "set LD_ACCESS_TOKEN or SENTRY_AUTH_TOKEN in the environment instead"


def _credential_kind(value: str) -> tuple[str, str]:
    """What a credential-shaped value is, and where it belongs instead."""
    if value.startswith("api-"):
        return "a LaunchDarkly access token", "set LD_ACCESS_TOKEN in the environment instead"
    if value.startswith(("sdk-", "mob-")):
        return "a LaunchDarkly SDK key", "ldsentry never needs SDK keys: remove it"
    return "a Sentry auth token", "set SENTRY_AUTH_TOKEN in the environment instead"


class _Validator:
    """Collects problems while building a Config from the unwrapped document."""

    def __init__(self, display: str, index: LineIndex) -> None:
        self.display = display
        self.index = index
        self.problems: list[ConfigProblem] = []

    def add(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.display, self.index.line_of(*path), code, message))

    def run(self, data: dict[str, Any]) -> Config:
        secret_paths = self._check_secrets(data)
        tables: dict[str, dict[str, Any]] = {}
        mapping_tables: list[tuple[int, dict[str, Any]]] = []
        for name, value in data.items():
            if (name,) in secret_paths:
                continue
            section = SECTIONS_BY_NAME.get(name)
            if section is None:
                self._unknown_top_level(name, value)
            elif section.array:
                mapping_tables = self._array_section(section, value)
            elif not isinstance(value, dict):
                self.add((name,), "wrong_type", f"{section.header} must be a table, not {_type_name(value)}")
            else:
                tables[name] = value
        values = {
            name: self._section_values(SECTIONS_BY_NAME[name], (name,), table, secret_paths)
            for name, table in tables.items()
        }
        mappings = self._mappings(mapping_tables, secret_paths)
        metric = values.get("metric", {})
        if "key" not in metric and "event_key" in metric and ld_key_rule(metric["event_key"]):
            message = (
                f"[metric] event_key {_show(metric['event_key'])} is not a valid metric key, "
                "so set [metric] key to the key ldsentry should create the metric under"
            )
            self.add(("metric", "event_key"), "bad_format", message)
        return _build_config(values, mappings)

    def _check_secrets(self, data: dict[str, Any]) -> set[tuple[str | int, ...]]:
        """Report secret-named keys and credential-shaped values anywhere; return their paths."""
        found: set[tuple[str | int, ...]] = set()
        for path, value in _walk(data, ()):
            if isinstance(path[-1], str) and path[-1].lower() in SECRET_KEY_NAMES:
                hint = _secret_hint(str(path[0]))
                message = f"{_describe(path)} looks like a secret; tokens never live in this file: {hint}"
                self.add(path, "secret_in_config", message)
                found.add(path)
            elif isinstance(value, str) and secrets.looks_like_credential(value):
                what, instead = _credential_kind(value)
                self.add(path, "secret_in_config", f"{_describe(path)} holds what looks like {what}; {instead}")
                found.add(path)
        return found

    def _unknown_top_level(self, name: str, value: object) -> None:
        if isinstance(value, dict):
            match = suggest(name, [s.name for s in SECTIONS])
            hint = f" (did you mean {SECTIONS_BY_NAME[match].header}?)" if match else ""
            self.add((name,), "unknown_key", f"unknown section [{name}]{hint}")
            return
        home = next((s for s in SECTIONS if s.key(name) is not None), None)
        hint = f" (did you mean {home.header} {name}?)" if home else did_you_mean(name, [s.name for s in SECTIONS])
        self.add((name,), "unknown_key", f"unknown key '{name}' at the top level{hint}")

    def _array_section(self, section: Section, value: object) -> list[tuple[int, dict[str, Any]]]:
        if isinstance(value, dict):
            message = f"write mappings as {section.header} tables (one per mapping), not [{section.name}]"
            self.add((section.name,), "wrong_type", message)
            return []
        if not isinstance(value, list):
            self.add((section.name,), "wrong_type", f"{section.name} must be {section.header} tables")
            return []
        tables = []
        for position, item in enumerate(value):
            if isinstance(item, dict):
                tables.append((position, item))
            else:
                self.add((section.name,), "wrong_type", f"each {section.header} must be a table")
        return tables

    def _section_values(
        self,
        section: Section,
        path: tuple[str | int, ...],
        table: dict[str, Any],
        secret_paths: set[tuple[str | int, ...]],
    ) -> dict[str, Any]:
        """Check a table's keys against the schema; return the valid values."""
        good: dict[str, Any] = {}
        meant: set[str] = set()  # keys a misspelling already points at: not reported missing too
        for name, value in table.items():
            key_path = (*path, name)
            if key_path in secret_paths:
                continue
            key = section.key(name)
            if key is None:
                match = suggest(name, [k.name for k in section.keys if k.name not in table])
                hint = f" (did you mean '{match}'?)" if match else ""
                meant.add(match or "")
                self.add(key_path, "unknown_key", f"unknown key '{name}' in {section.header}{hint}")
                continue
            if not _TYPE_CHECKS[key.type](value):
                message = f"{section.header} {name} must be {_article(key.type)}, not {_type_name(value)}"
                self.add(key_path, "wrong_type", message)
                continue
            failure = key.rule(value) if key.rule else None
            if failure:
                self.add(key_path, "bad_format", f"{section.header} {name} {_show(value)} {failure}")
                continue
            good[name] = value
        for key in section.keys:
            if key.required and key.name not in table and key.name not in meant:
                self.add(path, "missing_key", f"{section.header} is missing required key '{key.name}'")
        return good

    def _mappings(
        self, tables: list[tuple[int, dict[str, Any]]], secret_paths: set[tuple[str | int, ...]]
    ) -> tuple[ProjectMapping, ...]:
        section = SECTIONS_BY_NAME["mapping"]
        mappings: list[ProjectMapping] = []
        seen: dict[tuple[str, str], ProjectMapping] = {}
        for position, table in tables:
            path: tuple[str | int, ...] = ("mapping", position)
            before = len(self.problems)
            values = self._section_values(section, path, table, secret_paths)
            if len(self.problems) != before or len(values) != len(section.keys):
                continue
            mapping = ProjectMapping(**values, line=self.index.line_of(*path))
            first = seen.get(mapping.sentry_pair)
            if first is None:
                seen[mapping.sentry_pair] = mapping
                mappings.append(mapping)
            elif first == mapping:
                message = f"duplicate mapping {mapping.label} (first at line {first.line}); delete one of them"
                self.add(path, "duplicate_mapping", message)
            else:
                message = (
                    f"{mapping.sentry_project}/{mapping.sentry_environment} is mapped twice: "
                    f"to {mapping.ld_project}/{mapping.ld_environment} here and to "
                    f"{first.ld_project}/{first.ld_environment} at line {first.line}; "
                    "a Sentry project+environment maps to at most one LaunchDarkly environment"
                )
                self.add(path, "conflicting_mapping", message)
        return tuple(mappings)


def _walk(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), item
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            if isinstance(item, dict):
                yield from _walk(item, (*path, position))
            elif isinstance(item, str) and path:
                yield path, item


def _describe(path: tuple[str | int, ...]) -> str:
    """Name a key for messages: `[sentry] auth_token`, `[[mapping]] ld_environment`, `token`."""
    if len(path) == 1:
        return str(path[0])
    section = SECTIONS_BY_NAME.get(str(path[0]))
    header = section.header if section else f"[{path[0]}]"
    return f"{header} {'.'.join(str(p) for p in path[1:] if isinstance(p, str))}"


def _article(type_name: str) -> str:
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


_URL_PASSWORD = re.compile(r"(://[^/:@\s\"]*:)[^/@\s\"]*@")


def _show(value: object) -> str:
    """Quote a value for a message, shortened so a pasted blob cannot flood the output."""
    text = json.dumps(value, ensure_ascii=False)
    text = _URL_PASSWORD.sub(r"\1***@", text).replace("\n", "\\n")  # never echo a password in a URL
    return text if len(text) <= 70 else text[:67] + "..."


def _build_config(values: dict[str, dict[str, Any]], mappings: tuple[ProjectMapping, ...]) -> Config:
    ld = values.get("launchdarkly", {})
    sentry = values.get("sentry", {})
    metric = values.get("metric", {})
    relay = values.get("relay", {})
    kind = MetricKind(metric.get("kind", MetricKind.BINARY.value))
    event_key = metric.get("event_key", MetricSettings.event_key)
    metric_settings = MetricSettings(
        event_key=event_key,
        key=metric.get("key", event_key),
        name=metric.get("name", MetricSettings.name),
        kind=kind,
        units=tuple(metric.get("units", kind.default_units)),
        description=metric.get("description", MetricSettings.description),
    )
    return Config(
        launchdarkly=LaunchDarklySettings(base_url=ld.get("base_url"), events_url=ld.get("events_url")),
        sentry=SentrySettings(organization=sentry.get("organization"), base_url=sentry.get("base_url")),
        metric=metric_settings,
        relay=RelaySettings(**relay),
        mappings=mappings,
    )
