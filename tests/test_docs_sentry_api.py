"""docs/sentry-api.md stays the page the code cites: every `sentry-api.md §N` names one of its sections."""

from __future__ import annotations

import re
from pathlib import Path

from ci_support import ROOT

PAGE = ROOT / "docs" / "sentry-api.md"
SEARCHED = ("ld_sentry_cli", "tests", "docs", "scripts", "bench")
# A citation of the page, by file name or as the emulator's "Sentry notes", then its section numbers:
# `sentry-api.md §4.2, §6`, `(Sentry notes §3)`.
_CITATION = re.compile(r"(?:sentry-api\.md|Sentry notes)((?:[\s,;]*(?:and\s+)?§\d+(?:\.\d+)?)+)")
_SECTION = re.compile(r"§(\d+(?:\.\d+)?)")
_HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)[. ]", re.M)


def _sources() -> list[Path]:
    files = [ROOT / "README.md"]
    for folder in SEARCHED:
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".toml") and p.is_file()]
    return files


def _citations() -> dict[str, set[str]]:
    """Section number → the files that cite it."""
    found: dict[str, set[str]] = {}
    for path in _sources():
        for match in _CITATION.finditer(path.read_text(encoding="utf-8")):
            for number in _SECTION.findall(match.group(1)):
                found.setdefault(number, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_cited_section_is_a_heading_of_the_page() -> None:
    headings = set(_HEADING.findall(PAGE.read_text(encoding="utf-8")))
    citations = _citations()

    assert {"1", "3", "4.1", "7", "12"} <= citations.keys()  # the search finds the code's citations
    missing = {number: sorted(files) for number, files in citations.items() if number not in headings}
    assert missing == {}, f"sections cited but absent from docs/sentry-api.md: {missing}"


def test_nothing_cites_the_notes_outside_the_repository() -> None:
    outside = [str(p.relative_to(ROOT)) for p in _sources() if f"shared/reference/{PAGE.name}" in p.read_text("utf-8")]

    assert outside == []
