"""Edit the mappings of a configuration file, changing only the lines of the mapping addressed.

Edits work on the text, guided by the parsed document and its line index, because re-rendering a
tomlkit document after removing an array-of-tables element can move blank lines and comments
that belong to neighbouring tables. Every edited text is parsed and validated again before it is
saved, so an edit can never produce a file that ldsentry itself would reject.
"""

from __future__ import annotations

from pathlib import Path

from ld_sentry_cli.config.lines import LineIndex
from ld_sentry_cli.config.loader import ConfigFile, check_text, load_config
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
    import tomlkit

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


def remove_mapping_text(text: str, index: LineIndex, header_line: int) -> str:
    """Text without the `[[mapping]]` table whose header is at header_line (1-based).

    Removed: the header, the table's keys, comment lines directly above the header and one blank
    line before them. Kept: blank and comment lines after the table's last key, which introduce
    whatever comes next.
    """
    lines = text.splitlines(keepends=True)
    start = header_line - 1
    following = [h for h in sorted(index.headers) if h > header_line]
    end = following[0] - 1 if following else len(lines)
    while end > start + 1 and _is_blank_or_comment(lines[end - 1]):
        end -= 1
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    if start > 0 and not lines[start - 1].strip():
        start -= 1
    return "".join(lines[:start] + lines[end:])


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def add_mapping(path: Path, display: str, mapping: ProjectMapping, *, comment: str | None = None) -> ProjectMapping:
    """Append mapping (after a `# comment` line if given) under the lock; return it with its line. Refuses conflicts."""
    problems = check_mapping_values(mapping)
    if problems:
        raise UsageError("; ".join(problems))
    with locked(path):
        current = load_config(path, display)
        existing = next((m for m in current.config.mappings if m.sentry_pair == mapping.sentry_pair), None)
        if existing is not None:
            _refuse_second_mapping(current, existing, mapping)
        if ("mapping",) in current.index.lines and "mapping" not in current.index.array_headers:
            raise UsageError(
                f"{display}: the mappings are written as an inline array (mapping = [...]); "
                "rewrite them as [[mapping]] tables to let ldsentry edit them"
            )
        new_text = append_mapping_text(current.text, mapping, comment)
        saved = _save_checked(current, new_text)
    return next(m for m in saved.config.mappings if m == mapping)


def remove_mapping(path: Path, display: str, mapping: ProjectMapping) -> ProjectMapping:
    """Remove exactly this mapping's table from the file under the lock; return the removed mapping."""
    with locked(path):
        current = load_config(path, display)
        found = next((m for m in current.config.mappings if m == mapping), None)
        if found is None or found.line is None:
            raise UsageError(
                f"{display}: no mapping {mapping.label}",
                hint=_closest_hint(current, mapping),
            )
        if found.line not in current.index.headers:
            raise UsageError(f"{display}:{found.line}: this mapping is part of an inline array; delete it by hand")
        _save_checked(current, remove_mapping_text(current.text, current.index, found.line))
    return found


def _refuse_second_mapping(current: ConfigFile, existing: ProjectMapping, mapping: ProjectMapping) -> None:
    where = f"{current.display}:{existing.line}"
    if existing == mapping:
        raise ConflictError(f"{mapping.label} is already mapped at {where}; nothing to do")
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


def _save_checked(current: ConfigFile, new_text: str) -> ConfigFile:
    """Validate new_text as a whole and save it atomically; the file is untouched on any problem."""
    config, problems, index = check_text(new_text, current.display)
    if problems or config is None or index is None:
        # Should not happen for edits of a valid file; refuse rather than write a broken file.
        raise ConfigInvalidError(
            [ConfigProblem(p.file, p.line, p.code, f"after the edit: {p.message}") for p in problems]
        )
    write_atomic(current.path, new_text)
    return ConfigFile(current.path, current.display, new_text, config, index)
