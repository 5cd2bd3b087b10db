"""Commands that serve HTTP need an extra; without it they exit 2 with the line that installs it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from importlib.machinery import ModuleSpec

import pytest
from typer.testing import CliRunner

from ld_sentry_cli.cli import app

WEB_STACK = ("starlette", "uvicorn", "msgspec", "psycopg", "psycopg_pool", "jsonpatch")


@pytest.fixture
def without_starlette(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As in a core install: the extras' packages cannot be imported, and ldsentry's modules load afresh."""
    before = set(sys.modules)
    for name in list(sys.modules):
        if name.split(".")[0] in WEB_STACK or name.startswith(
            ("ld_sentry_cli.cli.", "ld_sentry_cli.sandbox", "ld_sentry_cli.relay", "ld_sentry_cli.render.relay")
        ):
            # Importing a fresh copy also rebinds it on its package (`ld_sentry_cli.cli.validate_cmd`):
            # put the original back there too, or a later test patching it by dotted name misses.
            parent, _, child = name.rpartition(".")
            if hasattr(sys.modules.get(parent), child):
                monkeypatch.setattr(sys.modules[parent], child, getattr(sys.modules[parent], child))
            monkeypatch.delitem(sys.modules, name)
    for name in WEB_STACK:
        monkeypatch.setitem(sys.modules, name, None)  # `import starlette` raises ImportError
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name.split(".", maxsplit=1)[0] in WEB_STACK else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    yield
    # A module first imported during the test was built on the fresh copies; left in sys.modules or on
    # its package, it would mix with the originals that monkeypatch puts back (an OutputFormat of another class).
    for name in set(sys.modules) - before:
        module = sys.modules.pop(name)
        parent, _, child = name.rpartition(".")
        if module is not None and getattr(sys.modules.get(parent), child, None) is module:
            delattr(sys.modules[parent], child)


@pytest.mark.parametrize(
    ("argv", "extra", "command"),
    [
        (["demo"], "sandbox", "demo"),
        (["sandbox", "serve"], "sandbox", "sandbox serve"),
        (["relay", "serve"], "relay", "relay serve"),
        (["relay", "status"], "relay", "relay status"),
        (["relay", "retry-dead-letters"], "relay", "relay retry-dead-letters"),
        (["relay", "backfill"], "relay", "relay backfill"),
    ],
)
def test_a_missing_extra_names_the_install_line(
    without_starlette: None, runner: CliRunner, argv: list[str], extra: str, command: str
) -> None:
    missing = "starlette, uvicorn, msgspec" if extra == "relay" else "starlette, uvicorn, msgspec, jsonpatch"
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: `ldsentry {command}` needs the {extra!r} extra, which is not installed (missing: {missing}).",
        f"hint: Install it with: pip install 'ldsentry[{extra}]' (from a clone: pip install '.[{extra}]').",
    ]


def test_the_offline_commands_need_no_extra(without_starlette: None, runner: CliRunner) -> None:
    assert runner.invoke(app, ["init", "--sentry-organization", "acme"]).exit_code == 0
    assert runner.invoke(app, ["validate"]).exit_code == 0
