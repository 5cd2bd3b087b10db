"""Edit the mappings of a configuration file, changing only the lines of the mapping addressed.

Edits work on the text, at the table positions that config/positions.py takes from a TOML
tokenizer, because tomlkit re-renders a document whose mappings another table interrupts in a
different order (python-poetry/tomlkit#601). Every edited text is parsed and validated again, and
must hold exactly the old configuration plus or minus the one mapping, before it is saved: an edit
can never produce a file that ldsentry would reject, nor touch another mapping.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import tomlkit

from ld_sentry_cli.config.loader import ConfigFile, check_text, load_config
from ld_sentry_cli.config.positions import LineIndex, LineKind
from ld_sentry_cli.config.schema import SECTIONS_BY_NAME
from ld_sentry_cli.config.store import locked, write_atomic
from ld_sentry_cli.errors import ConfigInvalidError, ConfigProblem, ConflictError, UsageError
from ld_sentry_cli.models import ProjectMapping

MAPPING_FIELDS = ("sentry_project", "sentry_environment", "ld_project", "ld_environment")


def check_mapping_values(mapping: ProjectMapping) -> list[str]:
    """Messages for every value of a new mapping that breaks the key-format rules."""
    section = SECTIONS_BY_NAME["mapping"]
    messages = []
    for name in MAPPING_FIELDS:
        key = section.key(name)
        value = getattr(mapping, name)
        failure = key.rule(value) if key and key.rule else None
        if failure:
            messages.append(f"--{name.replace('_', '-')} {value!r} {failure}")
    return messages


def render_mapping(mapping: ProjectMapping, newline: str = "\n", comment: str | None = None) -> str:
    """The `[[mapping]]` table for mapping, as ldsentry writes it, after a one-line `# comment` if given."""
    lines = [f"# {' '.join(comment.split())}"] if comment and comment.strip() else []
    lines.append("[[mapping]]")
    lines += [f"{name} = {tomlkit.string(getattr(mapping, name)).as_string()}" for name in MAPPING_FIELDS]
    return newline.join(lines) + newline


def append_mapping_text(text: str, mapping: ProjectMapping, comment: str | None = None) -> str:
    """Text with a `[[mapping]]` table appended after one blank line; every other byte unchanged."""
    newline = "\r\n" if "\r\n" in text else "\n"
    if not text:
        separator = ""
    elif text.endswith(newline):
        separator = newline
    else:
        separator = newline * 2
    return text + separator + render_mapping(mapping, newline, comment)


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split at LF only (TOML's newline), never at U+2028, NEL or a form feed."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def remove_mapping_text(text: str, index: LineIndex, number: int) -> str:
    """Text without the number-th `[[mapping]]` table (0-based, in the order written).

    Removed: the header, the table's keys, the comment lines attached to its header (no blank line
    between) when the table before it is a mapping too, and one blank line before them. Kept: blank
    and comment lines after the table's last key, which introduce whatever comes next, and the
    comment lines above the first mapping of a run, which introduce all of them.
    """
    lines = split_lines(text)
    tables = index.array_tables("mapping")
    table = tables[number]
    start, end = table.header_line, table.last_line  # 1-based, inclusive
    while end > start and index.kind(end) is not LineKind.CONTENT:
        end -= 1
    above = start - 1
    if index.kind(above) is LineKind.COMMENT:
        first = above
        while index.kind(first - 1) is LineKind.COMMENT:
            first -= 1
        before = [t for t in index.tables if t.header_line < first]
        if before and before[-1].array and before[-1].path[0] == "mapping":
            start = first  # the comment describes this table
            if index.kind(start - 1) is LineKind.BLANK:
                start -= 1
        else:  # the comment introduces the mappings: it stays, on the mapping that now comes first
            after = index.tables[index.tables.index(table) + 1 :]
            following = after[0] if after and after[0].array and after[0].path[0] == "mapping" else None
            between = range(end + 1, table.last_line + 1)
            if following is not None and all(index.kind(line) is LineKind.BLANK for line in between):
                end = table.last_line
    elif above > 0 and index.kind(above) is LineKind.BLANK:
        start -= 1
    elif above == 0:  # the first lines of the file: the blank lines after the table go with it
        while end < table.last_line and index.kind(end + 1) is LineKind.BLANK:
            end += 1
    return "".join(lines[: start - 1] + lines[end:])


def add_mapping(
    path: Path, display: str, mapping: ProjectMapping, *, comment: str | None = None
) -> tuple[ProjectMapping, bool]:
    """Append mapping (after a `# comment` line if given) under the lock; return it with its line, and if it was added.

    An identical mapping already in the file is not an error (scripts that ensure a mapping exists
    must be re-runnable): it comes back with added False. A different mapping of the same Sentry
    project+environment is refused.
    """
    problems = check_mapping_values(mapping)
    if problems:
        raise UsageError("; ".join(problems))
    with locked(path):
        current = load_config(path, display)
        existing = next((m for m in current.config.mappings if m.sentry_pair == mapping.sentry_pair), None)
        if existing == mapping:
            return existing, False
        if existing is not None:
            _refuse_second_mapping(current, existing, mapping)
        # (appending needs no positions; when they are unknown, _save_checked still refuses a bad result)
        if current.index.trusted and current.config.mappings and not current.index.array_tables("mapping"):
            raise UsageError(
                f"{display}: the mappings are written as an inline array (mapping = [...]); "
                "rewrite them as [[mapping]] tables to let ldsentry edit them"
            )
        new_text = append_mapping_text(current.text, mapping, comment)
        saved = _save_checked(current, new_text, (*current.config.mappings, mapping))
    return next(m for m in saved.config.mappings if m == mapping), True


def remove_mapping(path: Path, display: str, mapping: ProjectMapping) -> ProjectMapping:
    """Remove exactly this mapping's table from the file under the lock; return the removed mapping."""
    with locked(path):
        current = load_config(path, display)
        number = next((n for n, m in enumerate(current.config.mappings) if m == mapping), None)
        if number is None:
            raise UsageError(f"{display}: no mapping {mapping.label}", hint=_closest_hint(current, mapping))
        found = current.config.mappings[number]
        tables = current.index.array_tables("mapping")
        if not current.index.trusted:
            raise UsageError(f"{display}: ldsentry could not locate the [[mapping]] tables; delete it by hand")
        if len(tables) != len(current.config.mappings):
            raise UsageError(f"{display}:{found.line}: this mapping is part of an inline array; delete it by hand")
        remaining = current.config.mappings[:number] + current.config.mappings[number + 1 :]
        _save_checked(current, remove_mapping_text(current.text, current.index, number), remaining)
    return found


def _refuse_second_mapping(current: ConfigFile, existing: ProjectMapping, mapping: ProjectMapping) -> None:
    where = f"{current.display}:{existing.line}"
    raise ConflictError(
        f"{mapping.sentry_project}/{mapping.sentry_environment} is already mapped to "
        f"{existing.ld_project}/{existing.ld_environment} at {where}; a Sentry project+environment "
        "maps to at most one LaunchDarkly environment",
        hint=(
            "Delete the existing mapping first: ldsentry mappings delete "
            f"--sentry-project {existing.sentry_project} --sentry-environment {existing.sentry_environment} "
            f"--ld-project {existing.ld_project} --ld-environment {existing.ld_environment}"
        ),
    )


def _closest_hint(current: ConfigFile, mapping: ProjectMapping) -> str:
    same_sentry = [m for m in current.config.mappings if m.sentry_pair == mapping.sentry_pair]
    if same_sentry:
        return f"Did you mean {same_sentry[0].label} (line {same_sentry[0].line})?"
    return "Run `ldsentry mappings list` to see the mappings."


def _save_checked(current: ConfigFile, new_text: str, mappings: tuple[ProjectMapping, ...]) -> ConfigFile:
    """Validate new_text and save it atomically if it holds exactly the expected configuration.

    The file is untouched on any problem: a text that no longer validates, or that changed any
    setting or mapping other than the one edited, is refused rather than written.
    """
    config, problems, index = check_text(new_text, current.display)
    if problems or config is None or index is None:
        # Should not happen for edits of a valid file; refuse rather than write a broken file.
        raise ConfigInvalidError(
            [ConfigProblem(p.file, p.line, p.code, f"after the edit: {p.message}") for p in problems]
        )
    if config != dataclasses.replace(current.config, mappings=mappings):
        raise UsageError(
            f"{current.display}: ldsentry could not edit this file without changing more than the mapping; "
            "the file is unchanged; edit it by hand",
            hint="Please report this with the file attached (without secrets).",
        )
    write_atomic(current.path, new_text, current.display)
    return ConfigFile(current.path, current.display, new_text, config, index)
