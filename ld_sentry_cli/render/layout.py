"""Tables that fit the terminal: below the width a table needs, one block of `field: value` lines per row.

Rich squeezes a table that is too wide by truncating its columns, even the ones marked `no_wrap`:
at 40 columns the status column of `status` vanished. Here a table renders as itself only when
every column fits (a `no_wrap` column at its full width, a wrapping one at its longest word);
otherwise each row becomes a block of lines, which wrap but never lose a cell.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

# Wide enough that measuring a table never squeezes it.
_UNBOUNDED = 1_000_000


def needed_width(console: Console, options: ConsoleOptions, table: Table) -> int:
    """The narrowest width at which table shows every cell whole: no_wrap columns unbroken, others by words."""
    wide = options.update_width(_UNBOUNDED)
    content = 0
    needed = 0
    for column in table.columns:
        cells = [column.header, *column.cells] if table.show_header else list(column.cells)
        sizes = [Measurement.get(console, wide, cell) for cell in cells] or [Measurement(0, 0)]
        widest = max(size.maximum for size in sizes)
        content += widest
        needed += widest if column.no_wrap else max(size.minimum for size in sizes)
    # Borders and padding: what the whole table measures beyond its cells.
    overhead = Measurement.get(console, wide, table).maximum - content
    return needed + overhead


def _text(value: RenderableType) -> Text | None:
    if isinstance(value, Text):
        return value
    if isinstance(value, str):
        return Text.from_markup(value)
    return None


def stacked(table: Table, width: int) -> Group:
    """The table as its title, then one block per row: a `header: value` line per column, blocks apart.

    A field too long for one line of width puts its value on the lines below its header, indented.
    """
    parts: list[RenderableType] = []
    if table.title is not None:
        title = _text(table.title)
        parts.append(title if title is not None else table.title)
    headers = [_text(column.header) or Text(str(column.header)) for column in table.columns]
    for row in zip(*(list(column.cells) for column in table.columns), strict=True):
        parts.append(Text(""))
        for label, cell in zip(headers, row, strict=True):
            value = _text(cell)
            if value is not None and "\n" not in value.plain and label.cell_len + 2 + value.cell_len <= width:
                parts.append(Text.assemble(label, ": ", value))
            else:
                parts += [
                    Text.assemble(label, ":"),
                    Padding(value if value is not None else cell, (0, 0, 0, 2), expand=False),
                ]
    return Group(*parts)


class Fitted:
    """A table that renders as one block per row when the console is narrower than the table needs."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if needed_width(console, options, self.table) <= options.max_width:
            yield self.table
        else:
            yield stacked(self.table, options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table)


def fitted(renderable: RenderableType) -> RenderableType:
    """renderable with each table in it (itself, or a member of a Group) made to fit the console."""
    if isinstance(renderable, Table):
        return Fitted(renderable)
    if isinstance(renderable, Group):
        return Group(*(fitted(part) for part in renderable.renderables), fit=renderable.fit)
    return renderable
