"""Where the tables and keys of a TOML text are written: lines for messages, table spans for edits.

tomli parses without positions, and tomlkit renders an array of tables that another table
interrupts in a different order than written (python-poetry/tomlkit#601), so its rendering cannot
place such a table. Positions therefore come from a real TOML tokenizer, Pygments' TOML lexer (a
dependency of rich): strings, comments and brackets are its business, so a `'''` in a comment or
a `[[mapping]]` inside a string cannot mislead it. The names in headers and keys are decoded by
tomli itself. An index that disagrees with the parsed data is not trusted (see `LineIndex.build`).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

import tomli
from pygments.lexer import inherit
from pygments.lexers.configs import TOMLLexer
from pygments.token import Comment, Error, Keyword, Operator, Punctuation, String, Whitespace, _TokenType
from pygments.token import is_token_subtype as _is

Path = tuple["str | int", ...]
_BARE = re.compile(r"[A-Za-z0-9_-]+")


class _Lexer(TOMLLexer):
    """Pygments' TOML lexer with two gaps closed that matter for positions.

    A multi-line string may end in up to two quotes of its own just before the closing three
    (TOML allows four or five quotes in a row there), and a line-ending backslash inside one is
    part of the string, not a newline between statements.
    """

    tokens = {  # noqa: RUF012 - Pygments' own class-attribute protocol
        "multiline-basic-string": [
            (r'"{3,5}', String.Double, "#pop"),
            (r"\\[ \t]*\r?\n", String.Escape),
            inherit,
        ],
        "multiline-literal-string": [(r"'{3,5}", String.Single, "#pop"), inherit],
    }


class LineKind(enum.Enum):
    """What a physical line holds, as the tokenizer saw it."""

    BLANK = "blank"
    COMMENT = "comment"  # only a comment (and whitespace)
    CONTENT = "content"  # a header, a key, a value, or part of a multi-line value


@dataclass(frozen=True)
class Table:
    """A table header as written: its resolved path, whether it is `[[...]]`, and its lines (1-based)."""

    path: Path
    array: bool
    header_line: int
    last_line: int  # the line before the next header, or the last line of the text


@dataclass
class LineIndex:
    """Maps a path such as ('mapping', 2, 'ld_project') to the 1-based line where it is written."""

    lines: dict[Path, int] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    kinds: list[LineKind] = field(default_factory=list)  # kinds[n - 1] is the kind of line n
    trusted: bool = True

    @classmethod
    def build(cls, text: str, data: dict[str, Any]) -> LineIndex:
        """Index every table header and key of text, which tomli parsed into data.

        Returns an empty, untrusted index when the tokenizer and the parser disagree, so that a
        message goes without a line and an edit is refused rather than aimed at the wrong place.
        """
        try:
            index = _Builder(text).run()
        except (ValueError, StopIteration):  # a header or key the tokenizer split where tomli did not
            return cls(trusted=False)
        if not index.trusted or not _agrees(index, data):
            return cls(trusted=False)
        return index

    def line_of(self, *path: str | int) -> int | None:
        """The line of path, or of its nearest indexed parent (an inline table's keys share its line)."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def array_tables(self, name: str) -> list[Table]:
        """The `[[name]]` tables at the top level, in the order written."""
        return [t for t in self.tables if t.array and len(t.path) == 2 and t.path[0] == name]

    def kind(self, line: int) -> LineKind:
        """The kind of a 1-based line; lines past the end are blank."""
        return self.kinds[line - 1] if 0 < line <= len(self.kinds) else LineKind.BLANK


def nesting_line(text: str, limit: int) -> int | None:
    """The line where arrays and inline tables first nest deeper than limit, if they do."""
    depth = 0
    for offset, kind, value in _Lexer().get_tokens_unprocessed(text):
        if kind is Punctuation and value in "[{":
            depth += 1
            if depth > limit:
                return text.count("\n", 0, offset) + 1
        elif kind is Punctuation and value in "]}":
            depth -= 1
    return None


def long_key_line(text: str, limit: int) -> int | None:
    """The line of the first key or table header with more than limit dotted parts, if there is one."""
    line, dots = 1, 0
    for _, kind, value in _Lexer().get_tokens_unprocessed(text):
        if value == "." and kind in (Punctuation, Keyword):
            dots += 1
            if dots >= limit:
                return line
        elif "\n" in value:
            dots = 0
        line += value.count("\n")
    return None


_WHITESPACE, _COMMENT, _ERROR, _OTHER = range(4)
_GROUPS: dict[_TokenType, int] = {}


def _group(kind: _TokenType) -> int:
    """Whitespace, comment, error or anything else; cached, as the lexer uses few token types."""
    group = _GROUPS.get(kind)
    if group is None:
        group = next(
            (g for g, parent in ((_WHITESPACE, Whitespace), (_COMMENT, Comment), (_ERROR, Error)) if _is(kind, parent)),
            _OTHER,
        )
        _GROUPS[kind] = group
    return group


class _Builder:
    """One pass over the tokens: statements end at a newline outside any bracket."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.last_line = text.count("\n") + 1
        self.index = LineIndex(kinds=[LineKind.BLANK] * self.last_line)
        self.table: Path = ()
        self.array_counts: dict[Path, int] = {}
        self.headers: list[tuple[Path, bool, int]] = []

    def run(self) -> LineIndex:
        kinds = self.index.kinds
        statement: list[tuple[int, _TokenType, str, int]] = []
        depth = 0
        line = 1  # TOML's newlines are LF and CRLF only: U+2028, NEL or a lone CR do not start a line
        for offset, kind, value in _Lexer().get_tokens_unprocessed(self.text):
            group = _group(kind)
            newlines = value.count("\n")
            if group == _WHITESPACE:
                if newlines and depth == 0:
                    self._statement(statement)
                    statement = []
            elif group == _COMMENT:
                if kinds[line - 1] is LineKind.BLANK:
                    kinds[line - 1] = LineKind.COMMENT
            elif group == _ERROR:
                self.index.trusted = False
                return self.index
            else:
                last = line + newlines - (1 if value.endswith("\n") else 0)
                for number in range(line, last + 1):
                    kinds[number - 1] = LineKind.CONTENT
                if kind is Punctuation and value in "[{":
                    depth += 1
                elif kind is Punctuation and value in "]}":
                    depth -= 1
                statement.append((offset, kind, value, line))
            line += newlines
        self._statement(statement)
        for number, (path, array, header_line) in enumerate(self.headers):
            end = self.headers[number + 1][2] - 1 if number + 1 < len(self.headers) else self.last_line
            self.index.tables.append(Table(path, array, header_line, end))
        return self.index

    def _statement(self, tokens: list[tuple[int, _TokenType, str, int]]) -> None:
        if not tokens:
            return
        start, kind, value, line = tokens[0]
        if kind is Keyword and value in ("[", "[["):
            close = next(t for t in reversed(tokens) if t[1] is Keyword and t[2] in ("]", "]]"))
            names = _decode_header(self.text[start : close[0] + len(close[2])])
            self._header(names, value == "[[", line)
            return
        equals = next((t for t in tokens if t[1] is Operator and t[2] == "="), None)
        if equals is None:
            self.index.trusted = False
            return
        names = _decode_key(self.text[start : equals[0]])
        self._record((*self.table, *names), line)

    def _header(self, names: tuple[str, ...], array: bool, line: int) -> None:
        path: Path = ()
        for position, name in enumerate(names):
            path = (*path, name)
            if position == len(names) - 1 and array:
                count = self.array_counts.get(path, 0)
                self.array_counts[path] = count + 1
                path = (*path, count)
            elif path in self.array_counts:  # a name of an array of tables means its last element
                path = (*path, self.array_counts[path] - 1)
        self.table = path
        self.headers.append((path, array, line))
        self._record(path, line)

    def _record(self, path: Path, line: int) -> None:
        for end in range(1, len(path) + 1):
            self.index.lines.setdefault(path[:end], line)


def _decode_header(header: str) -> tuple[str, ...]:
    """The names of a `[a."b.c"]` or `[[a.b]]` header, decoded by tomli."""
    inner = header.strip("[] \t")
    if _BARE.fullmatch(inner):
        return (inner,)
    return _names(tomli.loads(header))


def _decode_key(key: str) -> tuple[str, ...]:
    """The names of a dotted or quoted key, decoded by tomli."""
    stripped = key.strip()
    if _BARE.fullmatch(stripped):
        return (stripped,)
    return _names(tomli.loads(f"{stripped} = 0"))


def _names(parsed: dict[str, Any]) -> tuple[str, ...]:
    names: list[str] = []
    node: Any = parsed
    while isinstance(node, dict) and node:
        name = next(iter(node))
        names.append(name)
        node = node[name]
        if isinstance(node, list):  # [[a.b]] parses as {"a": {"b": [{}]}}
            break
    return tuple(names)


def _agrees(index: LineIndex, data: dict[str, Any]) -> bool:
    """True when every indexed path exists in data and every top-level name and table is indexed."""
    for path in index.lines:
        node: Any = data
        for part in path:
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    return False
            elif not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
    if any((name,) not in index.lines for name in data):
        return False
    for name, value in data.items():
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            written = len(index.array_tables(name))
            if written and written != len(value):
                return False
    return True


def multiline_opening_line(text: str) -> int | None:
    """The line where the last multi-line string opens: the one left open when a file ends inside it."""
    opening = None
    for offset, kind, value in _Lexer().get_tokens_unprocessed(text):
        if _is(kind, String) and value in ('"""', "'''"):
            opening = offset
    return None if opening is None else text.count("\n", 0, opening) + 1
