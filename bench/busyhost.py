"""`python -m bench.busyhost`: the API and a new record's start while builds burn every core.

A Local cloud runs builds on the host of the services. A build that compiles with every core
(`make -j`, a test suite in parallel) competes for the CPU with the gateway, the scheduler and
the database, and every POST, page and stage report could wait for it. Each worker runs in a
session of its own (its process group, for stopping it whole); where the kernel groups tasks
by session for scheduling (`/proc/sys/kernel/sched_autogroup_enabled`, on by default on
Debian and this machine) a record's processes share one CPU share, however many they start,
and the services' session has its own. This bench measures what a user sees of that.

One stack (its own secantusdb and RabbitMQ vhost, as bench.runs starts them), then, on the
idle host first (the baseline) and again while BURNING records run BURNERS busy loops each:

- `GET /api/v1/projects/{name}` from one client, one request after another, MEASURE_S seconds;
- TRIVIAL records of a pipeline that clones a local repository and runs `true`, one after
  another: the POST's response time and POST -> first stage running.

Prints p50/p95/max of each and the ratio busy / idle. Exit status: 0 once the report is
printed, 2 when the setup failed, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import (
    Lab,
    SetupError,
    client,
    create,
    fmt,
    interrupt_on_sigterm,
    nearest_rank,
    run_and_report,
    say,
)
from bench.runs import FINISHED, SCM, local_pipeline, ms, run_one
from tests.repos import make_git_repo

PROJECT = "bench-busy"
BURNING = 2  # records burning at once (CYCLONE_MAX_RUNNING is 4: room for the trivial ones)
BURNERS = 4  # busy loops per burning record: 8 on a 2-core machine
BURN_S = 25
MEASURE_S = 6.0
TRIVIAL = 10
AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


def burn_command(loops: int, seconds: int) -> list[str]:
    """A stage's command lines (each run by `sh -e -c`): `loops` busy loops, then their end."""
    loop = f"timeout {seconds} sh -c 'while :; do :; done' &"
    return [f"for i in $(seq {loops}); do {loop} done; wait || true"]


def wait_burning(api: httpx.Client, path: str, ids: list[str], timeout: float = 60.0) -> None:
    """Until every burning record's package stage runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        docs = [api.get(f"{path}/{rid}").json() for rid in ids]
        stages = [d.get("stageStatus", {}).get("package", {}).get("status") for d in docs]
        if all(s == "Running" for s in stages):
            return
        if any(d["status"] in FINISHED for d in docs):
            raise SetupError(f"a burning record ended early: {[d['status'] for d in docs]}")
        time.sleep(0.2)
    raise SetupError(f"the burning records did not reach their package stage in {timeout:g}s")


def get_latencies(api: httpx.Client, seconds: float) -> list[float]:
    """Seconds of each GET of the project, one after another, for `seconds`."""
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sent = time.perf_counter()
        resp = api.get(f"/api/v1/projects/{PROJECT}")
        if resp.status_code != 200:
            raise SetupError(f"GET project: HTTP {resp.status_code} {resp.text[:200]}")
        times.append(time.perf_counter() - sent)
    return times


def cpu_ticks() -> tuple[int, int]:
    """(busy, all) jiffies of the whole host so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


@dataclass
class Phase:
    """The figures of one phase (idle host, or builds burning), in ms."""

    get: list[float]
    post: list[float]
    first_stage: list[float]
    host_busy: float  # share of the host's CPU time busy during the phase


def measure(api: httpx.Client, trivial: str, data_dir: Path) -> Phase:
    before = cpu_ticks()
    get = get_latencies(api, MEASURE_S)
    samples = [run_one(api, trivial, data_dir) for _ in range(TRIVIAL)]
    after = cpu_ticks()
    bad = [s.error for s in samples if s.error]
    if bad:
        raise SetupError(f"trivial records failed: {bad[:3]}")
    busy = (after[0] - before[0]) / max(after[1] - before[1], 1)
    return Phase(ms(get), ms([s.post_s for s in samples]), ms([s.latency for s in samples]), busy)


def run(lab: Lab) -> str:
    repo = make_git_repo(lab.work / "git")
    lab.start_stack({"CYCLONE_LOG_FORMAT": "json"})  # dated worker lines: run_one reads them
    with client(lab.api) as api:
        create(api, "/api/v1/projects", {"name": PROJECT, "scm": SCM})
        pipes = f"/api/v1/projects/{PROJECT}/pipelines"
        create(api, pipes, local_pipeline("burn", repo.url, burn_command(BURNERS, BURN_S)))
        create(api, pipes, local_pipeline("trivial", repo.url, ["true"]))
        trivial = f"{pipes}/trivial/records"
        if run_one(api, trivial, lab.data_dir).error:
            raise SetupError("the warm-up record failed")
        say("idle host")
        idle = measure(api, trivial, lab.data_dir)
        burns = f"{pipes}/burn/records"
        ids = [create(api, burns, {"ref": "main"})["id"] for _ in range(BURNING)]
        wait_burning(api, burns, ids)
        time.sleep(1.0)
        say(f"{BURNING} records burning {BURNERS} loops each")
        busy = measure(api, trivial, lab.data_dir)
        say("waiting for the burning records to end")
        for rid in ids:
            while api.get(f"{burns}/{rid}").json()["status"] not in FINISHED:
                time.sleep(0.5)
    return report(idle, busy)


def report(idle: Phase, busy: Phase) -> str:
    try:
        grouping = "on" if AUTOGROUP.read_text().strip() == "1" else "off"
    except OSError:
        grouping = "unknown (no /proc/sys/kernel/sched_autogroup_enabled)"
    lines = [
        f"bench.busyhost: {BURNING} records each running {BURNERS} busy loops on "
        f"{os.cpu_count()} CPUs; the kernel's autogroup scheduling (a CPU share per session): "
        f"{grouping}",
        f"host CPU busy: idle phase {idle.host_busy:.0%}, burning phase {busy.host_busy:.0%}",
        "",
        f"  {'ms':<34} {'idle p50':>9} {'p95':>7} {'max':>7} | {'burning p50':>11} {'p95':>7} "
        f"{'max':>7} | {'p50 ratio':>9}",
    ]
    for label, quiet, loaded in (
        (f"GET project ({MEASURE_S:g} s of them)", idle.get, busy.get),
        (f"POST a record ({TRIVIAL} of them)", idle.post, busy.post),
        ("POST -> first stage running", idle.first_stage, busy.first_stage),
    ):
        q50, b50 = nearest_rank(quiet, 50), nearest_rank(loaded, 50)
        lines.append(
            f"  {label:<34} {fmt(q50):>9} {fmt(nearest_rank(quiet, 95)):>7} "
            f"{fmt(max(quiet)):>7} | {fmt(b50):>11} {fmt(nearest_rank(loaded, 95)):>7} "
            f"{fmt(max(loaded)):>7} | {fmt(b50 / q50 if q50 else float('nan'), '.2f'):>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.busyhost", description=__doc__.split("\n")[0]
    )
    parser.parse_args(argv)
    interrupt_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="cyclone-bench-busy-"))
    lab = Lab(work, f"cyclone-bench-busy-{os.getpid()}")
    return run_and_report(work, lambda: run(lab), lab.stop_all)


if __name__ == "__main__":
    sys.exit(main())
