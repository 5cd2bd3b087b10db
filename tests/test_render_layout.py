"""Tables at any terminal width: whole cells in a table, or one block per row when the table does not fit."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from emulator_support import Emulator
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from ld_sentry_cli.cli import app
from ld_sentry_cli.render.layout import fitted, needed_width

WIDTHS = (40, 60, 80, 120)

# (command, width) pairs whose table is wider than the terminal, so each row becomes a block.
STACKED = {
    ("status", 40),
    ("status", 60),
    ("doctor", 40),
    ("doctor", 60),
    ("events check", 40),
    ("events check", 60),
    ("events check", 80),
    ("events check", 120),  # ten columns (the Flags % share among them) need about 130
    ("metric check", 40),
    ("mappings list", 40),
    ("mappings list", 60),
}


def _run(runner: CliRunner, monkeypatch: pytest.MonkeyPatch, command: str, width: int) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(width))
    result = runner.invoke(app, command.split())
    assert result.exit_code in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    assert "…" not in result.stdout  # nothing truncated
    assert all(cell_len(line) <= width for line in lines), [line for line in lines if cell_len(line) > width]
    stacked = not any("┃" in line for line in lines)
    assert stacked is ((command, width) in STACKED)
    return lines


def _assert_block(lines: list[str], anchor: str, block: list[str]) -> None:
    """The lines around the first `anchor` line are exactly `block`, a stacked row that holds `anchor`."""
    start = lines.index(anchor) - block.index(anchor)
    assert lines[start : start + len(block)] == block


def _table_row(lines: list[str], *cells: str) -> bool:
    """True when one table line holds exactly these cells, whole."""
    return any([cell.strip() for cell in line.strip("│").split("│")] == list(cells) for line in lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_status_shows_every_status_and_cell_at_any_width(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, emulator: Emulator, demo_config: Path, width: int
) -> None:
    lines = _run(runner, monkeypatch, "status", width)

    if ("status", width) in STACKED:
        narrow = width < 45  # too narrow for `label: value` on one line: the value goes below, indented
        _assert_block(
            lines,
            "Status: ✓ GREEN",
            [
                "Status: ✓ GREEN",
                *(
                    ["Sentry project/env:", "  checkout-api/production"]
                    if narrow
                    else ["Sentry project/env: checkout-api/production"]
                ),
                *(
                    ["LaunchDarkly project/env:", "  checkout/production"]
                    if narrow
                    else ["LaunchDarkly project/env: checkout/production"]
                ),
                "Metric: sentry-errors",
            ],
        )
        assert sum(line.startswith("Status: ") for line in lines) == 5
        assert lines[0] == "Mappings for event key 'sentry-errors'"
    else:
        assert _table_row(lines, "✓ GREEN", "checkout-api/production", "checkout/production", "sentry-errors")
        assert _table_row(lines, "✗ RED", "web-frontend/production", "default/production", "—")
    assert "2 green, 0 amber, 3 red" in lines


@pytest.mark.parametrize("width", WIDTHS)
def test_doctor_shows_every_check_with_its_details_at_any_width(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, emulator: Emulator, demo_config: Path, width: int
) -> None:
    checks = json.loads(runner.invoke(app, ["doctor", "-o", "json"]).stdout)["checks"]

    lines = _run(runner, monkeypatch, "doctor", width)

    text = " ".join(line.strip(" │") for line in lines)
    for check in checks:
        assert check["name"] in text
        assert " ".join(check["message"].split()[:2]) in text
    if ("doctor", width) in STACKED:
        assert sum(line.startswith("Status: ") for line in lines) == len(checks)
        assert "Check: Configuration" in lines
        assert "Details:" in lines or any(line.startswith("Details: ") for line in lines)
    else:
        marks = ("✓ ok", "! warn", "✗ fail")
        assert sum(any(mark in line for mark in marks) for line in lines) == len(checks)


@dataclass(frozen=True)
class Shown:
    """What a command must show of one of its rows: a block of lines when stacked, whole cells in a table."""

    anchor: str  # the line that finds the block: its first occurrence is in it
    block: list[str]
    rows: list[tuple[str, ...]]
    statuses: int | None = None  # how many `Status:` lines the stacked output has, where the test counts them
    live: bool = True  # the command asks the services, so it runs against the emulator


SHOWN = {
    "events check": Shown(
        "Sampled: 14",
        ["Sampled: 14", "Usable: 6", "Missing: 3", "Misnamed: 3", "Invalid: 2", "Usable %: 43%"],
        [("✗ RED", "web-frontend/production", "default/production", "14", "6", "3", "3", "2", "43%")],
        statuses=5,
    ),
    "metric check": Shown(
        "LaunchDarkly project: checkout",
        ["Status: ✓ GREEN", "LaunchDarkly project: checkout", "Metric: sentry-errors"],
        [("✓ GREEN", "checkout", "sentry-errors"), ("✗ RED", "mobile", "—")],
    ),
    "mappings list": Shown(
        "Line: 39",
        [
            "Sentry project: checkout-api",
            "Sentry environment: staging",
            "LD project: checkout",
            "LD environment: staging",
            "Line: 39",
        ],
        [("checkout-api", "staging", "checkout", "staging", "39")],
        live=False,
    ),
}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", SHOWN)
def test_a_command_shows_its_rows_whole_at_any_width(
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    demo_config: Path,
    command: str,
    width: int,
) -> None:
    shown = SHOWN[command]
    if shown.live:
        request.getfixturevalue("emulator")

    lines = _run(runner, monkeypatch, command, width)

    if (command, width) in STACKED:
        _assert_block(lines, shown.anchor, shown.block)
        if shown.statuses is not None:
            assert sum(line.startswith("Status: ") for line in lines) == shown.statuses
    else:
        for row in shown.rows:
            assert _table_row(lines, *row)


def test_needed_width_is_where_rich_stops_truncating() -> None:
    table = Table(title="t")
    table.add_column("Status", no_wrap=True)
    table.add_column("Words")
    table.add_row("✓ GREEN", "several short words and one longestword")

    def render(width: int) -> str:
        console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
        console.print(fitted(table))
        return console.export_text()

    need = needed_width(Console(width=200), Console(width=200).options, table)
    assert need == (1 + 7 + 1) + (1 + len("longestword") + 1) + 3  # padded no_wrap cell and longest word, borders
    assert "┃" in render(need) and "…" not in render(need)
    assert [line.rstrip() for line in render(need - 1).splitlines()] == [
        "t",
        "",
        "Status: ✓ GREEN",
        "Words:",
        "  several short words",
        "  and one longestword",
    ]
