"""No database filter in the services uses `$or`, `$and` or `$nor`: the embedded server
(secantusdb) answers any of them, even beside an `_id`, by scanning the whole collection,
which over a pipeline's history took a second per query (docs/architecture.md "Stats and
pages without scans")."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPERATORS = re.compile(r"""["']\$(or|and|nor)["']""")


def test_no_filter_uses_or_and_nor():
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for base in ("services", "shared")
        for path in sorted((ROOT / base).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if OPERATORS.search(line)
    ]
    assert found == [], "\n".join(found)
