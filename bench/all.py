"""`make bench` (`python -m bench.all`): every bench with a target, one after the other, then
one table of all their targets: figure, target, measured, baseline measured in the same run,
ratio, PASS/FAIL.

Each bench runs as its own process (`python -m bench.<name>`), with its own stack, its report
printed as it ends; they record their figures in a file this run names
(CYCLONE_BENCH_FIGURES, bench/summary.py). A bench that fails to set up leaves its figures
out, and the table says so. `--only runs,logs` runs some of them; `--quick` runs each with
smaller counts (a smoke run: its figures are not the targets' measure).

Exit status: 0 when every bench reported (whatever the verdicts), 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, say
from bench.summary import FIGURES_ENV, load, table

# name -> (full arguments, --quick arguments), in the order they run
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "memory": ([], ["--idle", "5"]),
    "runs": (["--records", "30", "--batch", "100"], ["--records", "5", "--batch", "20"]),
    "logs": ([], ["--lines", "20000", "--latency-lines", "1000", "--big-lines", "20000"]),
    "api": ([], ["--seconds", "3"]),
    "docker": ([], ["--records", "5"]),
    "stats": ([], ["--records", "10000", "--runs", "5"]),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.all", description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated benches (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller counts: a smoke run")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benches {unknown}; known: {', '.join(BENCHES)}")
    figures_file = Path(tempfile.mkstemp(prefix="cyclone-bench-figures-", suffix=".jsonl")[1])
    env = {**os.environ, FIGURES_ENV: str(figures_file), "PYTHONPATH": str(ROOT)}
    failed = []
    took: dict[str, float] = {}
    for name in names:
        full, quick = BENCHES[name]
        argv_ = [sys.executable, "-m", f"bench.{name}", *(quick if args.quick else full)]
        say(f"=== {' '.join(argv_[1:])}")
        began = time.monotonic()
        code = subprocess.run(argv_, cwd=ROOT, env=env, check=False).returncode
        took[name] = time.monotonic() - began
        if code != 0:
            failed.append(f"{name} (exit {code})")
    figures = load(figures_file)
    figures_file.unlink(missing_ok=True)
    print()
    print(f"## make bench{' --quick (smoke run)' if args.quick else ''}: {len(figures)} targets")
    print()
    print("\n".join(table(figures)))
    print()
    print("seconds per bench: " + ", ".join(f"{n} {s:.0f}" for n, s in took.items()))
    passed = sum(f.ok for f in figures)
    print(f"{passed} PASS, {len(figures) - passed} FAIL")
    if failed:
        print("benches that did not report: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
