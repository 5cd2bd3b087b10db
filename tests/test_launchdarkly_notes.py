"""Every `launchdarkly-api.md §N` citation leads to a section of docs/launchdarkly-api.md, inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

from ci_support import ROOT

NOTES = ROOT / "docs" / "launchdarkly-api.md"
SEARCHED = ("ld_sentry_cli", "tests", "scripts", "docs", "bench")
SUFFIXES = {".py", ".md", ".toml", ".json", ".yaml", ".yml"}
# The file name, then one or more `§N`, `§N.M` or `§N.M-N.M`, each optionally followed by a quoted
# sub-heading (`§0 "Error body"`), separated by commas or white space (a citation may wrap a line).
CITATION = re.compile(r'launchdarkly-api\.md\s+((?:§\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?[,\s]*(?:"[^"\n]*"[,\s]*)?)+)')
NUMBER = re.compile(r"\d+(?:\.\d+)?")
QUOTED = re.compile(r'"[^"\n]*"')
HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)[. ]", re.MULTILINE)


def _files() -> list[Path]:
    found = [path for path in ROOT.iterdir() if path.suffix in SUFFIXES]
    for folder in SEARCHED:
        found += [path for path in (ROOT / folder).rglob("*") if path.suffix in SUFFIXES and path.is_file()]
    return found


def _cited_sections() -> dict[str, set[str]]:
    """Section number → the files citing it."""
    cited: dict[str, set[str]] = {}
    for path in _files():
        text = path.read_text(encoding="utf-8")
        for match in CITATION.finditer(text):
            for number in NUMBER.findall(QUOTED.sub("", match.group(1))):  # sub-headings may hold digits
                cited.setdefault(number, set()).add(str(path.relative_to(ROOT)))
    return cited


def test_every_cited_section_exists() -> None:
    sections = set(HEADING.findall(NOTES.read_text(encoding="utf-8")))
    cited = _cited_sections()

    assert len(cited) >= 15, sorted(cited)  # the citations are really found, so the check below means something
    assert {number: files for number, files in cited.items() if number not in sections} == {}


def test_no_file_points_outside_the_repository_for_launchdarkly_facts() -> None:
    outside = [
        str(path.relative_to(ROOT))
        for path in _files()
        if path != Path(__file__).resolve() and "shared/reference/launchdarkly" in path.read_text("utf-8")
    ]

    assert outside == []
