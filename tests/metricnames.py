"""The metrics docs/operations.md promises, read from its table (tests keep the two in step)."""

from __future__ import annotations

import re
from pathlib import Path

OPERATIONS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


def documented() -> list[str]:
    names = re.findall(r"^\| `(cyclone_[a-z_]+)` \|", OPERATIONS.read_text(), re.M)
    assert len(names) >= 15, names
    return names
