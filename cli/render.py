"""Output: tables for people, `-o json`/`-o yaml` for scripts, colour only on a terminal.

JSON and YAML are the API's objects as they came (written straight to stdout, never through
rich's markup); tables are rich tables without borders, so they read well when piped too.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import yaml
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

FORMATS = ("table", "json", "yaml")
STATUS_STYLE = {
    "Success": "green",
    "Failed": "red",
    "Aborted": "yellow",
    "Running": "cyan",
    "Pending": "dim",
    "Skipped": "dim",
}


def wants_colour(stream: Any = sys.stdout) -> bool:
    """no-color.org: any non-empty NO_COLOR turns colour off; so does a pipe or a file."""
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def console(stream: Any = sys.stdout) -> Console:
    tty = hasattr(stream, "isatty") and stream.isatty()
    return Console(
        file=stream,
        no_color=not wants_colour(stream),
        color_system="auto" if wants_colour(stream) else None,
        highlight=False,
        # Piped output is not wrapped at 80 columns: a script reads whole rows.
        width=None if tty else 10_000,
        force_terminal=tty,
    )


class Output:
    def __init__(self, fmt: str = "table") -> None:
        self.fmt = fmt
        self.out = console(sys.stdout)

    def emit(self, body: Any, people: Callable[[Any], RenderableType | None]) -> None:
        """`body` as JSON or YAML, or what `people` makes of it."""
        if self.fmt == "json":
            sys.stdout.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        elif self.fmt == "yaml":
            sys.stdout.write(as_yaml(body) + "\n")
        else:
            shown = people(body)
            if shown is not None:
                with self.out.capture() as captured:
                    self.out.print(shown)
                # rich pads every cell: a piped table should not end its lines in spaces
                sys.stdout.write("".join(x.rstrip() + "\n" for x in captured.get().splitlines()))
        sys.stdout.flush()


def status(text: str | None) -> Text:
    value = text or "-"
    return Text(value, style=STATUS_STYLE.get(value, ""))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """The first column (an id or a name, what a user copies) is never cut or folded; on a
    narrow terminal the others end in an ellipsis."""
    cells = [[c if isinstance(c, Text) else Text(str(c)) for c in row] for row in rows]
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for i, header in enumerate(headers):
        widest = max((r[i].cell_len for r in cells), default=0)
        grid.add_column(
            header,
            no_wrap=True,
            overflow="ellipsis",
            min_width=max(widest, len(header)) if i == 0 else None,
        )
    for row in cells:
        grid.add_row(*row)
    return grid


def fields(pairs: Iterable[tuple[str, Any]]) -> Table:
    """One object as 'key  value' lines."""
    grid = Table(box=None, show_header=False, pad_edge=False, show_edge=False)
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for key, value in pairs:
        grid.add_row(key, value if isinstance(value, Text) else Text(str(value)))
    return grid


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (commands, Dockerfiles) as literal blocks, the way people write them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and not value.startswith(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def as_yaml(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True).rstrip("\n")
