"""Suggestions ("did you mean") for names a user typed (keys, slugs, environment names)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# Below this length a prefix says too little: "p" is a prefix of every "prod…" and "preview".
_MIN_PREFIX = 3


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate the user most likely meant by `word`, or None when nothing is close."""
    options = [c for c in dict.fromkeys(candidates) if c != word]
    if not options or not word:
        return None
    lowered = word.lower()
    # Case is the commonest slip (names are case-sensitive everywhere ldsentry looks).
    for candidate in options:
        if candidate.lower() == lowered:
            return candidate
    prefixed = [
        c
        for c in options
        if min(len(c), len(word)) >= _MIN_PREFIX and (c.lower().startswith(lowered) or lowered.startswith(c.lower()))
    ]
    if prefixed:
        return max(prefixed, key=lambda c: _ratio(word, c))
    by_lower = {c.lower(): c for c in reversed(options)}  # first spelling wins on a tie
    close = difflib.get_close_matches(lowered, list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`" (did you mean 'x'?)"` for the closest candidate, or "" when there is none."""
    match = suggest(word, candidates)
    return f" (did you mean '{match}'?)" if match else ""
