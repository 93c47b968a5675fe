"""Write README's configuration table from shared/envvars.py (`python -m tools.envtable`).

tests/unit/test_envvars.py fails when README's table and the declared variables differ.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from shared import envvars

README = Path(__file__).resolve().parent.parent / "README.md"
TABLE = re.compile(r"^\| variable \| default \| meaning \|\n(?:\|.*\|\n)+", re.M)


def with_table(text: str) -> str:
    if not TABLE.search(text):
        raise SystemExit("README.md has no configuration table to replace")
    return TABLE.sub(lambda _m: envvars.table(), text, count=1)


def main() -> None:
    text = README.read_text()
    new = with_table(text)
    if new != text:
        README.write_text(new)
        print("README.md: configuration table rewritten", file=sys.stderr)


if __name__ == "__main__":
    main()
