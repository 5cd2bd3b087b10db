"""The output format a command line asks for, read without Click: for reporting a failure Click raised while parsing.

When Click refuses a command line (an unknown option, a bad value, a missing option) it has not
parsed --output yet, but the failure must still be reported in the format asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only for annotations: typer 0.28 vendors Click as typer._click, older releases use click itself.
    from typer._click import Command, Parameter

_OUTPUT_NAMES = ("--output", "-o")
_FAILURE_FORMATS = ("json", "github")


def _options(command: Command) -> dict[str, Parameter]:
    return {
        name: param
        for param in command.params
        if param.param_type_name == "option"
        for name in (*param.opts, *param.secondary_opts)
    }


def _takes_value(param: Parameter) -> bool:
    return not getattr(param, "is_flag", False) and not getattr(param, "count", False)


def _choices(param: Parameter) -> tuple[str, ...]:
    return tuple(str(getattr(choice, "value", choice)) for choice in getattr(param.type, "choices", ()))


def requested_format(root: Command, args: Sequence[str]) -> str | None:
    """The `--output` value in args, if the command they name accepts it.

    Walks the words as Click would: options of the command reached so far (skipping the value of
    those that take one), then a subcommand name. The value counts only when the command reached
    accepts it; when the command is unknown, `-o`/`--output` with `json` or `github` still counts.
    """
    command: Command | None = root
    options = _options(root)
    words = list(args)
    chosen: str | None = None
    position = 0
    while position < len(words):
        word = words[position]
        position += 1
        if word == "--":
            break
        if word.startswith("-") and len(word) > 1:
            name, equals, value = word.partition("=")
            param = options.get(name)
            if param is None and not word.startswith("--") and len(word) > 2:  # `-ojson`
                name, equals, value = word[:2], "=", word[2:]
                param = options.get(name)
            if param is None and command is None and name in _OUTPUT_NAMES:
                if not equals and position < len(words):
                    value, position = words[position], position + 1
                chosen = value if value in _FAILURE_FORMATS else chosen
                continue
            if param is None or not _takes_value(param):
                continue
            if not equals:
                if position >= len(words):
                    break
                value, position = words[position], position + 1
            if param.name == "output" and value in _choices(param):
                chosen = value
            continue
        subcommands: Mapping[str, Command] | None = getattr(command, "commands", None) if command else None
        if subcommands is not None:
            try:
                command = subcommands.get(word)
            except Exception:  # a command that cannot even be built (a missing extra) is an unknown one here
                command = None
            options = _options(command) if command is not None else {}
    return chosen
