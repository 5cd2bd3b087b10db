"""Every note the code cites is in the repository, and every cited section of it exists.

The code, tests and docs cite docs/design.md by section name (`docs/design.md "HTTP"`) and the API
notes by section number (`launchdarkly-api.md §1.7`, `sentry-api.md §4.2, §6`, the emulator's
`Sentry notes §3`). A fresh clone has nothing beside the repository, so nothing may point outside it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ci_support import ROOT

DOCS = ROOT / "docs"
SEARCHED = ("ld_sentry_cli", "tests", "scripts", "bench", "docs", ".ci")
SUFFIXES = {".py", ".md", ".toml", ".json", ".yml", ".yaml"}
# After the note's name: one or more `§N`, `§N.M` or `§N.M-N.M`, each maybe followed by a quoted
# sub-heading (`§0 "Error body"`), separated by commas, "and" or white space (a citation may wrap).
SECTIONS = r'((?:[\s,;]*(?:and\s+)?§\s?\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?(?:\s*"[^"\n]*")?)+)'
NOTES = {"launchdarkly-api.md": r"launchdarkly-api\.md", "sentry-api.md": r"(?:sentry-api\.md|Sentry notes)"}
HEADING_NUMBER = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)[. ]", re.MULTILINE)


def _files() -> list[Path]:
    """The repository's code, tests, scripts and docs (the .ci scripts have no suffix)."""
    found = [path for path in ROOT.iterdir() if path.is_file() and path.suffix in SUFFIXES]
    for folder in SEARCHED:
        found += [p for p in (ROOT / folder).rglob("*") if p.is_file() and (p.suffix in SUFFIXES or folder == ".ci")]
    return found


def _citations(pattern: str) -> dict[str, set[str]]:
    """What a pattern's first group cites → the files citing it."""
    cited: dict[str, set[str]] = {}
    for path in _files():
        for match in re.finditer(pattern, path.read_text(encoding="utf-8", errors="replace")):
            cited.setdefault(match.group(1), set()).add(path.relative_to(ROOT).as_posix())
    return cited


@pytest.mark.parametrize("note", sorted(NOTES))
def test_every_cited_section_of_an_api_note_is_one_of_its_headings(note: str) -> None:
    headings = set(HEADING_NUMBER.findall((DOCS / note).read_text(encoding="utf-8")))
    cited: dict[str, set[str]] = {}
    for sections, files in _citations(NOTES[note] + SECTIONS).items():
        for number in re.findall(r"\d+(?:\.\d+)?", re.sub(r'"[^"\n]*"', "", sections)):  # sub-headings hold digits
            cited.setdefault(number, set()).update(files)

    assert len(cited) >= 10, sorted(cited)  # the citations are really found, so the check below means something
    assert {number: sorted(files) for number, files in cited.items() if number not in headings} == {}


def test_every_cited_section_of_the_design_notes_is_one_of_their_headings() -> None:
    headings = set(re.findall(r"^## (.+)$", (DOCS / "design.md").read_text(encoding="utf-8"), flags=re.MULTILINE))
    cited = _citations(r'design\.md "([^"]+)"')
    cited.pop("Section", None)  # design.md's own example of the citation form

    assert len(cited) >= 4, sorted(cited)
    assert {name: sorted(files) for name, files in cited.items() if name not in headings} == {}


def test_nothing_points_outside_the_repository_for_its_notes() -> None:
    assert _citations(r"(shared/reference/[\w.-]+|DESIGN\.md)") == {}
