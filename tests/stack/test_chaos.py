"""A short chaos run (bench/chaos.py): two replicas of every service, 90 s of records,
followers, webhook deliveries, cron and notifications under kills of replicas and of the
database and closed broker connections, every fault kind at least twice; every invariant
must hold (nothing lost, stuck or duplicated, followers got the stored logs, no 500)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import ROOT


@pytest.mark.stack
@pytest.mark.timeout(600)
def test_ninety_seconds_of_chaos_lose_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--minutes", "1.5", "--fault-every", "12"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=580,
    )
    report = done.stdout + "\n" + done.stderr[-4000:]
    assert done.returncode == 0, report
    faults = next(line for line in done.stdout.splitlines() if line.startswith("faults"))
    counts = dict(part.split() for part in faults.split(None, 1)[1].split(", "))
    assert all(int(n) >= 2 for n in counts.values()) and len(counts) == 3, faults
    assert "RESULT: PASS" in done.stdout, report
