"""Read, parse and validate a configuration file, reporting every problem with its file and line.

Validation never stops at the first problem: a user fixing a file wants the whole list at once.
"""

from __future__ import annotations

import ast
import datetime
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli

from ld_sentry_cli import secrets
from ld_sentry_cli.config.positions import LineIndex, long_key_line, multiline_opening_line, nesting_line
from ld_sentry_cli.config.schema import SECRET_KEY_NAMES, SECTIONS, SECTIONS_BY_NAME, Section, ld_key_rule

# tomli is the standard library's tomllib, released with compiled wheels: it reads a 500-mapping
# config in 8 ms where tomllib takes 25 ms on the 2-core CI machine (BENCHMARKS.md).
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
# The spool's postgresql:// URL names its database user, as libpq's URLs do; only a password is
# refused there, by the key's own rule (config/schema.py `spool_rule`).
_SPOOL_PATH = ("relay", "spool")


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


def check_text(
    text: str, display: str, *, locate: bool = True
) -> tuple[Config | None, list[ConfigProblem], LineIndex | None]:
    """Parse and validate TOML text; return the config (None when invalid), every problem and the index.

    With locate=False (`ldsentry validate`), lines are worked out only for problems, so a valid file
    is not tokenized and its mappings carry no line.
    """
    if not text.strip():
        message = "the file is empty; run `ldsentry init --force` to write a starter configuration"
        return None, [ConfigProblem(display, None, "empty_file", message)], None
    # tomli parses 1,000 mappings in 15 ms, tomlkit 20 times slower (BENCHMARKS.md); edits work on
    # the text with the positions of config/positions.py, so tomlkit's document is not needed.
    try:
        data = tomli.loads(text)
    except tomli.TOMLDecodeError as err:
        return None, [syntax_problem(text, display, err)], None
    except RecursionError as err:  # tomli's own limits, raised before Python's stack runs out
        return None, [_too_deep_problem(text, display, str(err))], None
    index: LineIndex | None = None

    def located() -> LineIndex:
        nonlocal index
        if index is None:
            index = LineIndex.build(text, data)
        return index

    validator = _Validator(display, located, locate=locate)
    config = validator.run(data)
    return (None if validator.problems else config), validator.problems, located() if locate else None


# tomli refuses arrays and inline tables nested deeper than this, and keys of more parts (its own limits).
MAX_NESTING = 400
MAX_KEY_PARTS = 1000
# TOML forbids these raw anywhere (a tab is allowed; a newline is LF or CRLF; inside a string they are escaped).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")
_CONTROL_NAMES = {
    "\x00": "a NUL byte",
    "\x0c": "a form feed",
    "\r": "a carriage return without a line feed",
    "\x1b": "an escape character",
    "\x7f": "a DEL character",
}
_BOM = "\ufeff"


@dataclass(frozen=True)
class _Decoded:
    """A TOML decode error's reason and position (1-based line and column, 0-based offset)."""

    msg: str
    pos: int
    lineno: int
    colno: int


def _decoded(text: str, error: ValueError) -> _Decoded:
    """The parts of a decode error: tomli's attributes, or its message where only that exists.

    tomli >= 2.1 (and tomllib from Python 3.14) carry msg, pos, lineno and colno; older tomllib
    carries only "reason (at line L, column C)".
    """
    parts = [getattr(error, name, None) for name in ("msg", "pos", "lineno", "colno")]
    if all(part is not None for part in parts):
        return _Decoded(str(parts[0]), int(str(parts[1])), int(str(parts[2])), int(str(parts[3])))
    last_line = text.count("\n") + 1
    at_end = len(text) - (text.rfind("\n") + 1) + 1
    if str(error).endswith(" (at end of document)"):
        return _Decoded(str(error).removesuffix(" (at end of document)"), len(text), last_line, at_end)
    where = re.search(r" \(at line (\d+), column (\d+)\)$", str(error))
    if where is None:
        return _Decoded(str(error), len(text), last_line, at_end)
    line, column = int(where.group(1)), int(where.group(2))
    starts = [0, *(m.end() for m in re.finditer("\n", text))]
    return _Decoded(str(error)[: where.start()], starts[line - 1] + column - 1, line, column)


def syntax_problem(text: str, display: str, raised: ValueError) -> ConfigProblem:
    """Say what a syntax error is and where, in words a user can act on."""
    error = _decoded(text, raised)
    if text.startswith(_BOM):
        # TOML 1.0 does not settle the BOM (toml-lang/toml#1088); Python's readers (tomllib, tomli, tomlkit)
        # all refuse it, so a file ldsentry accepted could break the other Python tools that read it.
        message = (
            "invalid TOML: the file starts with a byte order mark (U+FEFF), which TOML readers such as "
            "Python's tomllib refuse; remove the byte order mark (save the file as UTF-8 without BOM)"
        )
        return ConfigProblem(display, 1, "toml_syntax", message)
    control = _CONTROL.search(text)
    if control and control.start() <= error.pos:
        return _control_problem(text, display, control.start())
    line, reason = _reword(text, error)
    column = error.colno if line == error.lineno else None
    where = f" (column {column})" if column else ""
    return ConfigProblem(display, line, "toml_syntax", f"invalid TOML: {reason}{where}")


def _too_deep_problem(text: str, display: str, reason: str) -> ConfigProblem:
    """Say which of tomli's limits the file exceeds: nesting depth, or the parts of one dotted key."""
    if "key has more than" in reason:
        message = (
            f"invalid TOML: a dotted key has more than {MAX_KEY_PARTS} parts; "
            "no configuration needs that, so this is likely a generated or damaged file"
        )
        return ConfigProblem(display, long_key_line(text, MAX_KEY_PARTS), "toml_syntax", message)
    message = (
        f"invalid TOML: arrays and inline tables are nested more than {MAX_NESTING} levels deep; "
        "no configuration needs that, so this is likely a generated or damaged file"
    )
    return ConfigProblem(display, nesting_line(text, MAX_NESTING), "toml_syntax", message)


def _control_problem(text: str, display: str, offset: int) -> ConfigProblem:
    char = text[offset]
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    name = _CONTROL_NAMES.get(char, "a control character")
    message = (
        f"invalid TOML: {name} (U+{ord(char):04X}) at column {column} is not allowed in TOML; "
        f"remove it (inside a quoted string, write it as \\u{ord(char):04X})"
    )
    return ConfigProblem(display, line, "toml_syntax", message)


def _reword(text: str, error: _Decoded) -> tuple[int, str]:
    """The line and the reason for tomli's error, reworded where its own words do not say what to do."""
    msg, line = error.msg, error.lineno
    if msg == "Illegal character '\\n'":
        return line, "this string is not closed; add the closing quote before the end of the line"
    if msg == 'Expected "\'"' and error.pos == len(text):
        # tomli looks for the closing quote first and reaches the end of the file; with one added,
        # it stops at the newline that really ends the string, which gives the string's line.
        try:
            tomli.loads(text + "'")
        except tomli.TOMLDecodeError as raised:
            again = _decoded(text + "'", raised)
            line = again.lineno if again.msg.startswith(("Illegal character", "Found invalid character")) else line
        return line, "this string is not closed; add the closing ' before the end of the line"
    if msg == "Unterminated string":
        opening = multiline_opening_line(text)
        return opening or line, "this multi-line string is never closed; add the closing \"\"\" or '''"
    if msg == "Invalid value" and not text[error.pos :].strip():
        return line, "the file ends where a value should be; write the value (strings need quotes)"
    if msg == "Invalid value":
        return line, 'this value is not valid TOML (strings need quotes, for example "production")'
    if msg.startswith("Expected ']"):
        return line, "this [table] header is not closed; add the closing ]"
    if msg == "Invalid statement":
        return line, "this line is neither `key = value` nor a [table] header"
    if msg == "Cannot overwrite a value":
        return line, f"{_key_on_line(text, line)} is set a second time here; a key may be set only once"
    declared = re.fullmatch(r"Cannot declare (\(.*\)) twice", msg)
    if declared:
        names = ast.literal_eval(declared.group(1))
        table = ".".join(_shorten(str(name), quote=False) for name in names)
        return line, f"[{table}] is declared a second time here; merge the two tables into one"
    return line, msg


def _key_on_line(text: str, line: int) -> str:
    """The key set on a line, named with tomli's help, or `a key` when the line alone is not TOML."""
    source = text.split("\n")[line - 1]
    try:
        parsed = tomli.loads(source)
    except tomli.TOMLDecodeError:
        return "a key"
    names = []
    node: Any = parsed
    while isinstance(node, dict) and len(node) == 1:
        name = next(iter(node))
        names.append(_shorten(name, quote=False))
        node = node[name]
    return f"'{'.'.join(names)}'" if names else "a key"


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


_CREDENTIAL_KINDS = {
    "launchdarkly_token": ("a LaunchDarkly access token", "set LD_ACCESS_TOKEN in the environment instead"),
    "sdk_key": ("a LaunchDarkly SDK key", "ldsentry never needs SDK keys: remove it"),
    "sentry_token": ("a Sentry auth token", "set SENTRY_AUTH_TOKEN in the environment instead"),
}


class _Validator:
    """Collects problems while building a Config from the unwrapped document."""

    def __init__(self, display: str, index: Callable[[], LineIndex], *, locate: bool) -> None:
        self.display = display
        self.index = index  # built on first use: a valid file checked by `validate` needs no lines
        self.locate = locate
        self.problems: list[ConfigProblem] = []

    def add(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.display, self.index().line_of(*path), code, message))

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
        """Report secret-named keys, credential-shaped names and values, URL passwords; return their paths."""
        found: set[tuple[str | int, ...]] = set()
        for path, value in _walk(data, ()):
            name = path[-1]
            if isinstance(name, str) and (kind := secrets.credential_kind(name)):
                what, _ = _CREDENTIAL_KINDS[kind]
                message = f"the key name {_shorten(name)} is what looks like {what}; remove this key"
                self.add(path, "secret_in_config", message)
            elif isinstance(name, str) and name.lower() in SECRET_KEY_NAMES:
                hint = _secret_hint(str(path[0]))
                message = f"{_describe(path)} looks like a secret; tokens never live in this file: {hint}"
                self.add(path, "secret_in_config", message)
            elif isinstance(value, str) and (kind := secrets.credential_kind(value)):
                what, instead = _CREDENTIAL_KINDS[kind]
                self.add(path, "secret_in_config", f"{_describe(path)} holds what looks like {what}; {instead}")
            elif isinstance(value, str) and path != _SPOOL_PATH and secrets.has_url_userinfo(value):
                message = (
                    f"{_describe(path)} {_show(value)} holds a URL with a user name or password; remove them "
                    "(tokens come from the environment, never from this file)"
                )
                self.add(path, "secret_in_config", message)
            else:
                continue
            found.add(path)
        return found

    def _unknown_top_level(self, name: str, value: object) -> None:
        if isinstance(value, dict):
            match = suggest(name, [s.name for s in SECTIONS])
            hint = f" (did you mean {SECTIONS_BY_NAME[match].header}?)" if match else ""
            self.add((name,), "unknown_key", f"unknown section [{_shorten(name, quote=False)}]{hint}")
            return
        home = next((s for s in SECTIONS if s.key(name) is not None), None)
        hint = f" (did you mean {home.header} {name}?)" if home else did_you_mean(name, [s.name for s in SECTIONS])
        self.add((name,), "unknown_key", f"unknown key {_shorten(name)} at the top level{hint}")

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
                self.add(key_path, "unknown_key", f"unknown key {_shorten(name)} in {section.header}{hint}")
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
        positions: dict[tuple[str, str], int] = {}
        for position, table in tables:
            path: tuple[str | int, ...] = ("mapping", position)
            before = len(self.problems)
            values = self._section_values(section, path, table, secret_paths)
            if len(self.problems) != before or len(values) != len(section.keys):
                continue
            line = self.index().line_of(*path) if self.locate else None
            mapping = ProjectMapping(**values, line=line)
            first = seen.get(mapping.sentry_pair)
            if first is None:
                seen[mapping.sentry_pair] = mapping
                positions[mapping.sentry_pair] = position
                mappings.append(mapping)
                continue
            first_line = self.index().line_of("mapping", positions[mapping.sentry_pair])
            if first == mapping:
                message = f"duplicate mapping {mapping.label} (first at line {first_line}); delete one of them"
                self.add(path, "duplicate_mapping", message)
            else:
                message = (
                    f"{mapping.sentry_project}/{mapping.sentry_environment} is mapped twice: "
                    f"to {mapping.ld_project}/{mapping.ld_environment} here and to "
                    f"{first.ld_project}/{first.ld_environment} at line {first_line}; "
                    "a Sentry project+environment maps to at most one LaunchDarkly environment"
                )
                self.add(path, "conflicting_mapping", message)
        return tuple(mappings)


def _walk(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every key (and every string in an array) under value, in document order, each before what it holds.

    A loop with its own stack rather than recursion: a dotted key may have up to 1,000 parts.
    """
    stack: list[tuple[bool, tuple[str | int, ...], Any]] = [(False, path, value)]  # (emit?, path, value)
    while stack:
        emit, where, node = stack.pop()
        if emit:
            yield where, node
            continue
        pending: list[tuple[bool, tuple[str | int, ...], Any]] = []
        if isinstance(node, dict):
            for key, item in node.items():
                pending += [(True, (*where, key), item), (False, (*where, key), item)]
        elif isinstance(node, list):
            for position, item in enumerate(node):
                if isinstance(item, dict):
                    pending.append((False, (*where, position), item))
                elif isinstance(item, str) and where:
                    pending.append((True, where, item))
        stack.extend(reversed(pending))


def _describe(path: tuple[str | int, ...]) -> str:
    """Name a key for messages: `[sentry] auth_token`, `[[mapping]] ld_environment`, `token`."""
    if len(path) == 1:
        return _shorten(str(path[0]), quote=False)
    section = SECTIONS_BY_NAME.get(str(path[0]))
    header = section.header if section else f"[{_shorten(str(path[0]), quote=False)}]"
    return f"{header} {'.'.join(_shorten(p, quote=False) for p in path[1:] if isinstance(p, str))}"


def _article(type_name: str) -> str:
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


def _show(value: object) -> str:
    """Quote a value for a message, masked and shortened so a pasted secret or blob never reaches the output."""
    text = secrets.redact(json.dumps(value, ensure_ascii=False))
    text = text.replace("\n", "\\n")
    return text if len(text) <= 70 else text[:67] + "..."


_NAME_MAX = 60


def _shorten(name: str, *, quote: bool = True) -> str:
    """A key name for a message: credentials masked, at most 60 characters, quoted unless quote is False."""
    text = secrets.redact(name)
    if len(text) > _NAME_MAX:
        text = f"{text[: _NAME_MAX - 3]}... ({len(name):,} characters)"
    return f"'{text}'" if quote else text


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
