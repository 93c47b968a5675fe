"""`python -m bench.memory`: the memory of an idle stack and of a running Local worker.

Starts, one after the other, two stacks (`python -m tools.stack`, each with its own secantusdb
and private RabbitMQ vhost), lets each sit idle for `--idle` seconds after it is healthy, and
sums the memory of all their processes: the launcher, the services, the gateway's master and
workers, secantusdb, and the cloud service's fork server.

- baseline: the previous layout, a process per service and no fork server
  (CYCLONE_ONE_PROCESS=off, CYCLONE_FORK_SERVER=off);
- now: the defaults of `make run`.

RSS counts every page a process maps, shared ones (the interpreter, libraries, pages a fork
shares) once per process: the figure the target is written in. PSS splits each shared page
among its sharers, so the PSS column adds up to what the stack really holds.

On the `now` stack it then runs a record whose package stage sleeps, and measures its worker
process (the Python worker, not the build's `sleep`) while the stage runs.

Prints a table per stack and the targets with PASS/FAIL. Exit status as the other benches.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    Lab,
    SetupError,
    client,
    cmdline,
    create,
    descendant_pids,
    interrupt_on_sigterm,
    module_args,
    run_and_report,
    say,
)
from bench.summary import Figure, record, targets_lines
from tests.repos import make_git_repo
from tests.waiting import NotYet, wait_for

PROJECT = "bench-memory"
SCM = {"type": "Github", "server": "https://scm.example.com", "token": "t"}
TARGET_IDLE_MB = 300.0
TARGET_WORKER_MB = 40.0
BASELINE_ENV = {"CYCLONE_ONE_PROCESS": "off", "CYCLONE_FORK_SERVER": "off"}


@dataclass(frozen=True)
class Usage:
    pid: int
    name: str
    rss_mb: float
    pss_mb: float


def name_of(pid: int) -> str:
    words = cmdline(pid)
    if not words:
        return "?"
    module = module_args(words)
    if module:
        return " ".join(module)[:60]
    return " ".join(Path(w).name if i == 0 else w for i, w in enumerate(words))[:60]


def usage(pid: int) -> Usage | None:
    """RSS and PSS of a live process, from /proc/<pid>/smaps_rollup (kB)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    kb = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:"):
            kb[parts[0][:-1]] = int(parts[1])
    return Usage(pid, name_of(pid), kb.get("Rss", 0) / 1024, kb.get("Pss", 0) / 1024)


def stack_usage(lab: Lab) -> list[Usage]:
    """Every process of the stack: secantusdb, the launcher and all below them."""
    pids: set[int] = set()
    for child in lab.children:
        pids.add(child.proc.pid)
        pids.update(descendant_pids(child.proc.pid))
    found = [u for pid in sorted(pids) if (u := usage(pid)) is not None]
    return sorted(found, key=lambda u: -u.rss_mb)


def usage_table(title: str, found: list[Usage]) -> list[str]:
    lines = [title, f"  {'process':<62} {'RSS MB':>8} {'PSS MB':>8}"]
    lines += [f"  {u.name:<62} {u.rss_mb:8.1f} {u.pss_mb:8.1f}" for u in found]
    total_rss, total_pss = sum(u.rss_mb for u in found), sum(u.pss_mb for u in found)
    lines.append(f"  {f'total ({len(found)} processes)':<62} {total_rss:8.1f} {total_pss:8.1f}")
    return lines


def idle(lab: Lab, extra: dict[str, str], seconds: float) -> list[Usage]:
    lab.start_stack(extra)
    say(f"idle for {seconds:g}s")
    time.sleep(seconds)
    return stack_usage(lab)


def worker_while_running(lab: Lab) -> Usage:
    """The worker of a record whose stage sleeps, measured while it sleeps."""
    repo = make_git_repo(lab.work / "git")
    with client(lab.api) as api:
        create(api, "/api/v1/projects", {"name": PROJECT, "scm": SCM})
        stages = {
            "codeCheckout": {"mainRepo": {"type": "other", "otherCodeSource": {"url": repo.url}}},
            "package": {"command": ["sleep 8"], "outputs": []},
        }
        build = {"builderImage": {"image": "local"}, "stages": stages}
        create(api, f"/api/v1/projects/{PROJECT}/pipelines", {"name": "p", "build": build})
        created = create(api, f"/api/v1/projects/{PROJECT}/pipelines/p/records", {"ref": "main"})
    workspace = str(lab.data_dir / "workspaces" / str(created["id"]))
    stack = lab.children[-1].proc.pid

    def sleeping_worker() -> Usage | None:
        """The worker once its package stage's `sleep` runs below it."""
        for pid in descendant_pids(stack):
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            if cwd != workspace or "services.worker" not in cmdline(pid):
                continue
            if any("sleep" in " ".join(cmdline(p)) for p in descendant_pids(pid)):
                return usage(pid)
        return None

    try:
        wait_for(sleeping_worker, 60, "the worker running its stage")
        time.sleep(1)
        return wait_for(sleeping_worker, 5, "the worker running its stage")
    except NotYet as exc:
        raise SetupError(f"the record's worker: {exc}") from exc


def run(work: Path, labs: list[Lab], seconds: float) -> str:
    (work / "baseline").mkdir()
    (work / "now").mkdir()
    before_lab = Lab(work / "baseline", f"cyclone-bench-memory-a-{os.getpid()}")
    labs.append(before_lab)
    say("baseline: a process per service, no fork server")
    before = idle(before_lab, BASELINE_ENV, seconds)
    for line in before_lab.stop_all():
        say(line)
    labs.remove(before_lab)
    now_lab = Lab(work / "now", f"cyclone-bench-memory-b-{os.getpid()}")
    labs.append(now_lab)
    say("now: the defaults of make run")
    now = idle(now_lab, {}, seconds)
    say("a running Local worker")
    worker = worker_while_running(now_lab)
    total_before = sum(u.rss_mb for u in before)
    total_now = sum(u.rss_mb for u in now)
    figures = [
        Figure(
            "memory", "idle stack, total RSS", total_now, "MB", "<=", TARGET_IDLE_MB, total_before
        ),
        Figure("memory", "running Local worker, RSS", worker.rss_mb, "MB", "<=", TARGET_WORKER_MB),
    ]
    record(figures)
    lines = [
        f"bench.memory: idle {seconds:g}s after healthy, CPUs: {os.cpu_count()}",
        "",
        *usage_table(f"baseline ({' '.join(f'{k}={v}' for k, v in BASELINE_ENV.items())})", before),
        "",
        *usage_table("now (make run's defaults)", now),
        "",
        f"running Local worker (pid {worker.pid}, its stage's command running): "
        f"RSS {worker.rss_mb:.1f} MB, PSS {worker.pss_mb:.1f} MB",
        f"idle total RSS now / baseline = {total_now / total_before:.2f}",
        "",
        "targets:",
        *targets_lines(figures),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--idle", type=float, default=15.0, help="seconds idle before measuring")
    args = parser.parse_args(argv)
    interrupt_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="cyclone-bench-memory-"))
    labs: list[Lab] = []

    def stop_all() -> list[str]:
        return [line for lab in labs for line in lab.stop_all()]

    return run_and_report(work, lambda: run(work, labs, args.idle), stop_all)


if __name__ == "__main__":
    sys.exit(main())
