"""No database filter in the services uses `$or`, `$and` or `$nor`, and no service uses
findAndModify: the embedded server (secantusdb) answers any of them, even beside an `_id`,
by scanning the whole collection (a findAndModify's write re-asserts its filter under an
`$and`), which over a pipeline's history took a second per query (docs/architecture.md
"Stats and pages without scans")."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPERATORS = re.compile(r"""["']\$(or|and|nor)["']""")
FIND_AND_MODIFY = re.compile(r"\bfind_one_and_(update|replace|delete)\b|\bfind_and_modify\b")


def lines_matching(pattern: re.Pattern[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for base in ("services", "shared")
        for path in sorted((ROOT / base).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]


def test_no_filter_uses_or_and_nor():
    found = lines_matching(OPERATORS)
    assert found == [], "\n".join(found)


def test_no_find_and_modify():
    found = lines_matching(FIND_AND_MODIFY)
    assert found == [], "\n".join(found)
