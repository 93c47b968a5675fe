"""`python -m bench.cleanup`: what a record's end costs the cloud service's hub on this host.

When a worker ends, the cloud service checks its process group for leftovers and deletes its
workspace. Both ran on the service's eventlet hub, which the single-process default shares
with the scheduler, the logs and the scm services: while they ran, nothing else did. Under
eventlet, as the service runs, this measures:

- deleting a workspace of `--files` files (default 20,000, a modest `node_modules`): with
  `shutil.rmtree` on the hub (the baseline, as before) and with `remove_workspace`
  (services/cloud/backends/hostworkers.py), and the longest stall of a green thread that
  ticks every millisecond meanwhile;
- the leftover check of an empty process group: the scan of every process in /proc it used
  to be (the baseline) and `group_members` now, and how many processes this host has.

Prints the figures and the ratios. Exit status 0.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

from services.cloud.backends.hostworkers import (  # noqa: E402
    REMOVING,
    group_members,
    remove_workspace,
    scan_group,
)

CHECKS = 200  # leftover checks timed, each way


def make_tree(root: Path, files: int) -> None:
    for d in range(max(files // 100, 1)):
        sub = root / "code" / f"d{d}"
        sub.mkdir(parents=True)
        for f in range(min(100, files)):
            (sub / f"f{f}").touch()


def stall_while(delete: Callable[[], None], done: Callable[[], bool]) -> tuple[float, float]:
    """(seconds until `done`, the longest gap of a 1 ms green ticker meanwhile)."""
    gaps: list[float] = []
    stop: list[bool] = []

    def ticker() -> None:
        last = time.perf_counter()
        while not stop:
            eventlet.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = eventlet.spawn(ticker)
    eventlet.sleep(0.05)
    started = time.perf_counter()
    delete()
    while not done():
        eventlet.sleep(0.001)
    took = time.perf_counter() - started
    eventlet.sleep(0.02)
    stop.append(True)
    tick.wait()
    return took, max(gaps)


def per_call_ms(check: Callable[[int], list[int]], pgid: int) -> float:
    started = time.perf_counter()
    for _ in range(CHECKS):
        check(pgid)
    return (time.perf_counter() - started) * 1000 / CHECKS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cleanup", description=__doc__)
    parser.add_argument("--files", type=int, default=20000, help="files in the workspace")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cyclone-bench-cleanup-"))
    try:
        base_tree, new_tree = work / "baseline", work / "now"
        make_tree(base_tree, args.files)
        make_tree(new_tree, args.files)
        base = stall_while(lambda: shutil.rmtree(base_tree), lambda: not base_tree.exists())
        new = stall_while(
            lambda: remove_workspace(new_tree),
            lambda: not any(p.name.startswith(REMOVING) for p in work.iterdir()),
        )
        ended = subprocess.Popen(["true"], start_new_session=True)
        ended.wait()  # an empty group, as a worker's once it has ended
        processes = sum(1 for e in os.listdir("/proc") if e.isdigit())
        scan_ms = per_call_ms(scan_group, ended.pid)  # what the check was
        now_ms = per_call_ms(group_members, ended.pid)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"bench.cleanup: a workspace of {args.files:,} files; {processes} processes on this host")
    print(f"  {'':44} {'deleted after':>14} {'longest hub stall':>18}")
    for label, (took, stall) in (
        ("baseline: shutil.rmtree on the hub", base),
        ("remove_workspace (renamed, an OS thread)", new),
    ):
        print(f"  {label:44} {took * 1000:11.0f} ms {stall * 1000:15.1f} ms")
    print(f"  hub stall now / baseline: {new[1] / base[1]:.3f}")
    print(
        f"  leftover check of an empty group: a scan of /proc {scan_ms:.3f} ms, now {now_ms:.4f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
