"""`python -m bench.commands`: how soon the worker sees a build command end.

Every command of a stage runs under `services/worker/stages/process.run`: its output pumped
into the log line by line while its exit is awaited and the abort flag watched. This times
`run` for commands of a few lengths against the floor measured in the same run,
`subprocess.run` of the same command with its output read and its exit awaited with nothing
watched, and against `run` with pidfds turned off (the `Popen.wait(timeout)` polling the
worker used before, which it keeps where the kernel has no pidfds). Prints the p50 of each,
in ms, and the ratios to the floor. No stack, broker or database: the worker's own cost.
"""

from __future__ import annotations

import argparse
import errno
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from services.worker.stages import process

COMMANDS = (["true"], ["sleep", "0.01"], ["sleep", "0.1"])


def timed(action: Callable[[], object], runs: int) -> float:
    """The p50 of `runs` calls of `action`, in ms."""
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.commands", description=__doc__)
    parser.add_argument("--runs", type=int, default=40, help="runs of each command and way")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cyclone-bench-commands-") as work:
        report(Path(work), args.runs)
    return 0


def report(workdir: Path, runs: int) -> None:
    env = {"PATH": "/usr/bin:/bin"}

    def floor(argv: list[str]) -> object:
        return subprocess.run(argv, cwd=workdir, env=env, capture_output=True, check=True)

    def worker(argv: list[str]) -> object:
        outcome = process.run(
            argv, cwd=workdir, env=env, log=lambda _: None, abort=threading.Event()
        )
        assert outcome.code == 0, outcome
        return outcome

    def polled(argv: list[str]) -> object:
        off = OSError(errno.ENOSYS, "pidfds turned off")
        with mock.patch.object(process.os, "pidfd_open", side_effect=off):
            return worker(argv)

    print(f"bench.commands: a command's run as the worker runs it, p50 of {runs} runs (ms)")
    print(f"  {'command':<16} {'floor':>8} {'worker':>8} {'ratio':>7} {'polled':>8} {'ratio':>7}")
    for argv in COMMANDS:
        bare = timed(lambda argv=argv: floor(argv), runs)
        now = timed(lambda argv=argv: worker(argv), runs)
        before = timed(lambda argv=argv: polled(argv), runs)
        print(
            f"  {' '.join(argv):<16} {bare:8.2f} {now:8.2f} {now / bare:6.2f}x "
            f"{before:8.2f} {before / bare:6.2f}x"
        )


if __name__ == "__main__":
    raise SystemExit(main())
