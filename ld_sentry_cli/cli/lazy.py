"""Lazy command groups: a command's module is imported, and Typer builds its Click command, only when it is run.

Typer converts every registered command into Click objects from the function signatures on every
run, and registering a command means importing its module first. With ten command modules that is
most of `ldsentry --version`'s start-up. This is Click's documented "LazyGroup" pattern
(https://click.palletsprojects.com/en/stable/complex/#lazily-loading-subcommands) on top of Typer:
the group knows only the names until one is looked up, then Typer's own converter builds that one
exactly as `app.command(name)` or `app.add_typer(sub, name=name)` would have.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import typer
import typer.main
from typer.core import TyperGroup

if TYPE_CHECKING:
    # Only for annotations: typer 0.28 vendors Click as typer._click, older releases use click itself,
    # so nothing here imports either at run time.
    from typer._click import Command, Context


# A NamedTuple rather than a dataclass: creating a dataclass costs milliseconds of start-up on a slow machine.
class LazyCommand(NamedTuple):
    """One command of a lazy group: its name and where its function or sub-Typer is defined."""

    name: str
    module: str
    attribute: str

    def load(self) -> typer.Typer | Callable[..., Any]:
        """Import the module and return the command function or sub-Typer."""
        target: typer.Typer | Callable[..., Any] = getattr(importlib.import_module(self.module), self.attribute)
        return target

    def register(self, app: typer.Typer) -> None:
        """Register the command on app the ordinary Typer way: a sub-Typer as a group, a function as a command."""
        target = self.load()
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=self.name)
        else:
            app.command(self.name)(target)


class _Commands(MutableMapping[str, "Command"]):
    """A group's commands by name, in registry order; each is built on first lookup and then kept.

    TyperGroup reads `self.commands` directly (`get_command`, and the "Did you mean ...?" hint on a
    mistyped command reads its keys), so the laziness lives in the mapping itself: names are free,
    values cost an import.
    """

    def __init__(self, registry: tuple[LazyCommand, ...], build: Callable[[LazyCommand], Command]) -> None:
        self._entries = {entry.name: entry for entry in registry}
        self._build = build
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            self._built[name] = self._build(self._entries[name])  # KeyError for an unknown name, as a dict
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._entries and name not in self._built:
            raise KeyError(name)
        self._entries.pop(name, None)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self._entries
        yield from (name for name in self._built if name not in self._entries)

    def __len__(self) -> int:
        return len(self._entries.keys() | self._built.keys())

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._built


class LazyGroup(TyperGroup):
    """A TyperGroup whose commands come from `registry` and are imported and built only when looked up.

    Use it through a subclass that sets `registry`, passed as `typer.Typer(cls=...)`.
    """

    registry: ClassVar[tuple[LazyCommand, ...]] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        eager = dict(self.commands)  # commands registered on the Typer app itself, if any
        self.commands = _Commands(self.registry, self._build)
        self.commands.update({name: self.prepare(command) for name, command in eager.items()})

    def prepare(self, command: Command) -> Command:
        """Adjust a command once it is built, lazily or not (a subclass adds shared options); here, nothing."""
        return command

    def list_commands(self, ctx: Context) -> list[str]:
        """The command names in registry order, without importing any of them."""
        return list(self.commands)

    def _build(self, entry: LazyCommand) -> Command:
        # A throwaway app with the group's own settings holds the one command, so Typer builds it
        # exactly as it builds a command registered on the group (help text, markup mode, typo hints).
        holder = typer.Typer(rich_markup_mode=self.rich_markup_mode, add_completion=False)
        # Typer hands the root's "Did you mean ...?" setting down to sub-groups; typer releases older
        # than that setting (the project allows typer>=0.12) have the attribute on neither side.
        holder.suggest_commands = getattr(self, "suggest_commands", True)
        entry.register(holder)
        return self.prepare(typer.main.get_group(holder).commands[entry.name])


def registered(app: typer.Typer) -> typer.Typer:
    """A copy of app with its lazy commands registered on it as ordinary Typer commands and groups.

    Sub-groups are copied the same way, so a lazy command of a group (`mappings discover`) is there too.
    For tools that read Typer's registered commands (scripts/gen_cli_docs.py), and for tests that
    compare the lazy tree with the eager one Typer would build.
    """
    group = app.info.cls
    registry = group.registry if isinstance(group, type) and issubclass(group, LazyGroup) else None
    eager = copy.copy(app)
    eager.info = copy.copy(app.info)
    if registry is not None and isinstance(group, type):
        # The same group with no lazy entries: Typer builds every command up front, and the group still
        # prepares each one and reports failures as the lazy group does.
        eager.info.cls = type(f"Eager{group.__name__}", (group,), {"registry": ()})
    eager.registered_commands = list(app.registered_commands)
    eager.registered_groups = list(app.registered_groups)
    for entry in registry or ():
        entry.register(eager)
    groups = []
    for info in eager.registered_groups:
        copied = copy.copy(info)
        if copied.typer_instance is not None:
            copied.typer_instance = registered(copied.typer_instance)
        groups.append(copied)
    eager.registered_groups = groups
    return eager
