"""The targets of every bench in one shape, so `make bench` (bench/all.py) can end with one
table: figure, target, measured, baseline of the same run, ratio, PASS/FAIL.

Each bench builds its `Figure`s, prints them with `targets_lines` at the end of its report, and
`record`s them: appended as JSON lines to the file CYCLONE_BENCH_FIGURES names (bench/all.py
sets it), nothing when it is unset.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

FIGURES_ENV = "CYCLONE_BENCH_FIGURES"

Op = Literal["<=", ">="]


@dataclass(frozen=True)
class Figure:
    """One measured figure against its target. `baseline` is the same figure for the work
    done without Cyclone (or the previous design) measured in the same run, if there is one;
    `checks` is False when the run's own checks failed (a lost line, a failed record), which
    fails the target whatever the number."""

    bench: str
    label: str
    measured: float
    unit: str
    op: Op
    target: float
    baseline: float | None = None
    checks: bool = True

    @property
    def ok(self) -> bool:  # NaN compares False: no data is a FAIL
        met = self.measured <= self.target if self.op == "<=" else self.measured >= self.target
        return met and self.checks

    @property
    def ratio(self) -> float:
        """measured / baseline; NaN without a baseline."""
        if self.baseline is None or not self.baseline or math.isnan(self.baseline):
            return math.nan
        return self.measured / self.baseline


def number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    if unit in ("lines/s", "req/s"):
        return f"{value:,.0f} {unit}"
    digits = ".2f" if abs(value) < 10 else ".1f" if abs(value) < 1000 else ".0f"
    return f"{value:{digits}} {unit}".rstrip()


def verdict(figure: Figure) -> str:
    return "PASS" if figure.ok else "FAIL"


def targets_lines(figures: list[Figure], width: int = 50) -> list[str]:
    """The targets as a bench's report ends with them (a failed check says so)."""
    lines = []
    for f in figures:
        target = f"{f.op} {number(f.target, f.unit)}"
        shown = number(f.measured, f.unit) + ("" if f.checks else " (checks failed)")
        lines.append(f"  {f.label:<{width}} {target:>14} {shown:>20}  {verdict(f)}")
    return lines


def record(figures: list[Figure], env: dict[str, str] | None = None) -> None:
    """Append the figures to the file CYCLONE_BENCH_FIGURES names, when it is set."""
    path = (os.environ if env is None else env).get(FIGURES_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        for figure in figures:
            out.write(json.dumps(asdict(figure)) + "\n")


def load(path: Path) -> list[Figure]:
    """The figures a run recorded, in order."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            found.append(Figure(**raw))
    return found


def table(figures: list[Figure]) -> list[str]:
    """The summary table, Markdown so it can go into a note as is."""
    rows = [
        "| bench | figure | target | measured | baseline | ratio | |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        baseline = number(f.baseline, f.unit) if f.baseline is not None else ""
        ratio = "" if math.isnan(f.ratio) else f"{f.ratio:.2f}"
        measured = number(f.measured, f.unit) + ("" if f.checks else " (checks failed)")
        rows.append(
            f"| {f.bench} | {f.label} | {f.op} {number(f.target, f.unit)} | {measured} | "
            f"{baseline} | {ratio} | {verdict(f)} |"
        )
    return rows
