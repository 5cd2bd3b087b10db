"""Property: creating or deleting a mapping changes exactly that table, whatever else the file holds.

The generator builds a valid config from pieces whose text it knows (comments and strings holding
quotes, triple quotes, brackets, `#` and `[[mapping]]` text; CRLF or LF; tabs; other tables in
random order between the mappings), so the expected text after each edit is computed from the
pieces, never from ldsentry's own positions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from ld_sentry_cli.config import load_config
from ld_sentry_cli.config.editor import add_mapping, remove_mapping
from ld_sentry_cli.models import ProjectMapping

# Bounded so that CI runs it in a few seconds; HYPOTHESIS_PROFILE=thorough explores further.
settings.register_profile(
    "ci", max_examples=100, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

NEW = ProjectMapping("zz-new", "brand-new", "new-project", "new-env")

# Text that tripped the old hand-written scanner, or could trip any scanner that is not a tokenizer.
TRICKY = ["'''", '"""', "''", '""', "[[mapping]]", "[metric]", "]]", "[", "#", "=", "\\", "\t", "x"]
tricky_text = st.lists(st.sampled_from(TRICKY), min_size=1, max_size=6).map("".join)


def comment(text: str) -> str:
    return "# " + text


def basic_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '"'


def literal_string(text: str) -> str | None:
    return "'" + text + "'" if "'" not in text else None


def multiline_basic(text: str) -> str:
    body = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"""\n' + body + "\n" + body + '"""'


def multiline_literal(text: str) -> str | None:
    return "'''\n" + text + "\n'''" if "'''" not in text and not text.endswith("'") else None


@st.composite
def string_value(draw: st.DrawFn) -> str:
    text = "x" + draw(tricky_text)  # the keys these strings go to must not be blank
    makers = [basic_string, literal_string, multiline_basic, multiline_literal]
    candidates = [v for v in (maker(text) for maker in makers) if v is not None]
    return draw(st.sampled_from(candidates))


@st.composite
def trailing(draw: st.DrawFn) -> str:
    """Nothing, or a comment after a value."""
    if draw(st.booleans()):
        return ""
    return draw(st.sampled_from([" ", "  ", "\t"])) + comment(draw(tricky_text))


@dataclass
class MappingTable:
    """One generated [[mapping]] table: its attached comments, its lines and the mapping it holds."""

    mapping: ProjectMapping
    comments: list[str]
    body: list[str]


@st.composite
def mapping_table(draw: st.DrawFn, number: int) -> MappingTable:
    mapping = ProjectMapping(f"project-{number}", f"env-{number}", f"ld-{number}", "production")
    indent = draw(st.sampled_from(["", "  ", "\t"]))
    body = [indent + "[[mapping]]" + draw(trailing())]
    names = ("sentry_project", "sentry_environment", "ld_project", "ld_environment")
    for position, name in enumerate(names):
        value = getattr(mapping, name)
        quoted = draw(st.sampled_from([f'"{value}"', f"'{value}'"]))
        equals = draw(st.sampled_from([" = ", "=", "\t=\t"]))
        body.append(f"{indent}{name}{equals}{quoted}{draw(trailing())}")
        if position < len(names) - 1 and draw(st.integers(0, 4)) == 0:
            body.append(indent + comment(draw(tricky_text)))
    comments = [comment(draw(tricky_text)) for _ in range(draw(st.integers(0, 2)))]
    return MappingTable(mapping, comments, body)


@st.composite
def other_table(draw: st.DrawFn) -> list[str]:
    """A [metric] or [relay] table whose strings and comments hold the tricky text."""
    if draw(st.booleans()):
        return [
            "[metric]" + draw(trailing()),
            f'event_key = "sentry-errors"{draw(trailing())}',
            f"description = {draw(string_value())}{draw(trailing())}",
            f"name = {draw(string_value())}{draw(trailing())}",
        ]
    return ["[relay]" + draw(trailing()), f"spool = {draw(string_value())}{draw(trailing())}"]


@dataclass
class Generated:
    """A config as pieces: mappings, other tables and a leading comment, one blank line between pieces."""

    pieces: list[MappingTable | list[str]]
    newline: str

    def render(self, without: int | None = None) -> tuple[str, list[int]]:
        """The text and its mapping header lines; without=n leaves out the n-th mapping as delete should.

        A deleted mapping's attached comments go with it when a mapping comes before it; above the
        first mapping of a run they introduce the run and stay, on the next mapping if it has none.
        """
        blocks: list[tuple[list[str], bool, int | None]] = []  # lines, joined to the next, header offset
        number = -1
        previous_is_mapping = False
        for position, piece in enumerate(self.pieces):
            if not isinstance(piece, MappingTable):
                blocks.append((piece, False, None))
                previous_is_mapping = False
                continue
            number += 1
            if number == without:
                if not previous_is_mapping and piece.comments:
                    after = self.pieces[position + 1] if position + 1 < len(self.pieces) else None
                    blocks.append((piece.comments, isinstance(after, MappingTable) and not after.comments, None))
            else:
                blocks.append((piece.comments + piece.body, False, len(piece.comments)))
            previous_is_mapping = True
        lines: list[str] = []
        headers: list[int] = []
        joined = False
        for block, joins, header in blocks:
            if lines and not joined:
                lines.append("")
            if header is not None:  # multi-line strings hold newlines of their own
                headers.append(sum(line.count("\n") + 1 for line in lines) + header + 1)
            lines.extend(block)
            joined = joins
        return self.newline.join(line.replace("\n", self.newline) for line in lines) + self.newline, headers


@st.composite
def configs(draw: st.DrawFn) -> Generated:
    count = draw(st.integers(1, 4))
    pieces: list[MappingTable | list[str]] = [draw(mapping_table(n)) for n in range(count)]
    for table in draw(
        st.lists(other_table(), min_size=1, max_size=2, unique_by=lambda t: t[0][:7])
    ):  # never empty after a delete
        pieces.insert(draw(st.integers(0, len(pieces))), table)
    if draw(st.booleans()):
        pieces.insert(0, [comment(draw(tricky_text))])
    return Generated(pieces, draw(st.sampled_from(["\n", "\r\n"])))


@pytest.fixture
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Saves without waiting for the disk: durability is test_config_store's subject, not this one's."""
    monkeypatch.setattr(os, "fsync", lambda descriptor: None)


@PROFILE
@given(generated=configs(), data=st.data())
def test_create_then_delete_changes_exactly_that_table(
    tmp_path: Path, no_fsync: None, generated: Generated, data: st.DataObject
) -> None:
    path = tmp_path / "ldsentry.toml"
    text, headers = generated.render()
    path.write_bytes(text.encode())
    mappings = [p.mapping for p in generated.pieces if isinstance(p, MappingTable)]
    assert [m.line for m in load_config(path).config.mappings] == headers

    added, created = add_mapping(path, "ldsentry.toml", NEW)
    after_create = path.read_bytes().decode()
    nl = generated.newline
    table = ["[[mapping]]", 'sentry_project = "zz-new"', 'sentry_environment = "brand-new"']
    table += ['ld_project = "new-project"', 'ld_environment = "new-env"']
    assert created
    assert after_create == text + nl + nl.join(table) + nl
    assert added.line == text.count("\n") + 2

    removed = remove_mapping(path, "ldsentry.toml", NEW)
    assert removed.line == added.line
    assert path.read_bytes() == text.encode()

    number = data.draw(st.integers(0, len(mappings) - 1), label="mapping deleted")
    removed = remove_mapping(path, "ldsentry.toml", mappings[number])
    assert removed.line == headers[number]
    assert path.read_bytes().decode() == generated.render(without=number)[0]
