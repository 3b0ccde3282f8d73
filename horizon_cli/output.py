"""What commands print: rich tables for people, or JSON on stdout with `--json` for scripts.

Messages about the work (notes, warnings, errors, progress bars) go to stderr, so stdout
holds only the answer, or the program's own output (`task`, `exec`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from horizon_cli.client import compact


class Output:
    """Prints answers in the mode asked for.

    Args:
        json_mode: answers as JSON on stdout (one document; streams as JSON lines).
    """

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        # No highlighting: ids and numbers would be coloured at random; no wrapping of raw text.
        self.out = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)

    def answer(self, value: Any, render: Callable[[], None]) -> None:
        """Print `value` as JSON in JSON mode, else call `render` to show it to a person."""
        if self.json_mode:
            self.json_line(value, indent=2)
        else:
            render()

    def json_line(self, value: Any, indent: int | None = None) -> None:
        sys.stdout.write(json.dumps(value, indent=indent, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()

    def line(self, text: str) -> None:
        """A line of plain text on stdout (markup escaped, never broken up by rich)."""
        self.out.print(escape(text), soft_wrap=True)

    def note(self, text: str, style: str = "dim") -> None:
        """A line about the work on stderr (never in the way of stdout)."""
        self.err.print(escape(text), style=style, soft_wrap=True)

    def table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        title: str | None = None,
    ) -> None:
        table = Table(title=title, show_edge=False, header_style="bold")
        for index, column in enumerate(columns):
            # A leading id is what the next command takes: keep it whole on one line.
            whole = index == 0 and column.endswith("_id")
            table.add_column(column, no_wrap=whole, overflow="fold")
        for row in rows:
            table.add_row(*(escape(cell_text(cell)) for cell in row))
        self.out.print(table)

    def fields(self, values: Mapping[str, Any], title: str | None = None) -> None:
        """A two-column table of a record's fields, in their order, skipping empty ones."""
        rows = [(key, value) for key, value in values.items() if value not in (None, "", [], {})]
        table = Table(title=title, show_header=False, show_edge=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for key, value in rows:
            table.add_row(escape(key), escape(cell_text(value)))
        self.out.print(table)


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return compact(value)
