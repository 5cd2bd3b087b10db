"""Line numbers for the tables and keys of a TOML document.

tomlkit keeps every byte of the source but not where items start, so after a successful parse
this scans the text once and records the line of every table header and key. Problems and CI
annotations point at these lines; they stay right after edits because each edit re-indexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

Path = tuple["str | int", ...]

_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART = re.compile(_BARE_OR_QUOTED)


def _split_dotted(dotted: str) -> tuple[str, ...]:
    parts = []
    for match in _PART.finditer(dotted):
        token = match.group(0)
        parts.append(token[1:-1] if token[:1] in "\"'" else token)
    return tuple(parts)


def _multiline_delimiters(line: str) -> int:
    """Count of triple-quote delimiters outside comments (odd = a multi-line string opens or closes)."""
    code = line.split("#", 1)[0] if '"""' not in line and "'''" not in line else line
    return code.count('"""') + code.count("'''")


@dataclass
class LineIndex:
    """Maps a path such as ('mapping', 2, 'ld_project') to the 1-based line where it is written."""

    lines: dict[Path, int] = field(default_factory=dict)
    array_headers: dict[str, list[int]] = field(default_factory=dict)
    headers: set[int] = field(default_factory=set)

    @classmethod
    def build(cls, text: str) -> LineIndex:
        """Index every table header and key line of a TOML text that already parsed."""
        index = cls()
        table: Path = ()
        inside_multiline = False
        for number, line in enumerate(text.splitlines(), start=1):
            if inside_multiline:
                if _multiline_delimiters(line) % 2:
                    inside_multiline = False
                continue
            header = _HEADER.match(line)
            if header:
                names = _split_dotted(header.group(2))
                if header.group(1) == "[[":
                    positions = index.array_headers.setdefault(".".join(names), [])
                    positions.append(number)
                    table = (*names, len(positions) - 1)
                else:
                    table = names
                index.lines.setdefault(table, number)
                index.headers.add(number)
                continue
            key = _KEY.match(line)
            if key:
                index.lines.setdefault((*table, *_split_dotted(key.group(1))), number)
                if _multiline_delimiters(line) % 2:
                    inside_multiline = True
        return index

    def line_of(self, *path: str | int) -> int | None:
        """The line of path, or of its nearest indexed parent (an inline table's keys share its line)."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None
