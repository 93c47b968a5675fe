"""`python -m bench.runs`: how soon a record starts and how many finish per minute.

Starts its own secantusdb and Cyclone stack (`python -m tools.stack`) on a free port with a
fixed API token, on a private RabbitMQ vhost (`cyclone-bench-runs-<pid>`, created by the
launcher with rabbitmqctl, deleted at the end), makes a local git repository (file://), a
project and a pipeline whose codeCheckout clones it (ref main) and whose package stage runs
`true`. Then:

a) latency: `--records` records one after another on an idle system (after one warm-up
   record): the time from just before the POST to the codeCheckout stage's startTime as the
   worker reported it, p50/p95/max; and the POST's own response time;
b) throughput: `--batch` records POSTed at once from a few threads, the wall time until all
   have finished, at CYCLONE_MAX_RUNNING (default 4);
c) the same work without Cyclone: `git clone` of the same repository plus `sh -e -c true`,
   `--batch` times, 4 at a time; and the start of a Python process importing the worker
   (`python -c "import services.worker.main"`), the floor of a process per record.

Prints the figures, the ratios Cyclone / baseline and the targets with PASS/FAIL.
Exit status: 0 once the report is printed, whatever it says; 2 when the setup failed, 130
when interrupted (Ctrl-C or SIGTERM; the children are stopped and the vhost deleted anyway).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    ROOT,
    Lab,
    SetupError,
    bench_env,
    broker_pids,
    client,
    cpu_by_process,
    cpu_spent,
    create,
    fmt,
    interrupt_on_sigterm,
    nearest_rank,
    run_and_report,
    say,
)
from bench.summary import Figure, record, targets_lines
from tests.repos import make_git_repo

PROJECT = "bench-runs"
PIPELINE = "bench"
SCM = {"type": "Github", "server": "https://scm.example.com", "token": "t"}
FINISHED = frozenset({"Success", "Failed", "Aborted"})
POLL_RECORD = 0.02  # latency: GET the record every 20 ms
POLL_PAGE = 1.0  # throughput: GET the page of records every second (the end is each endTime)
PAUSE = 0.5  # latency: between records, so that the last worker has exited (an idle system)
RECORD_TIMEOUT = 120.0
POSTERS = 4  # threads POSTing the throughput batch, one keep-alive client each
BASELINE_PARALLEL = 4
BASELINE_TRIES = 3  # the bare batch's median of this many
IMPORT_RUNS = 20
MAX_BATCH = 1000  # one page of records (the API's MAX_LIMIT)

TARGET_LATENCY_P50_MS = 60.0
TARGET_LATENCY_P95_MS = 120.0
TARGET_BATCH_S = 10.0
TARGET_BATCH_RATIO = 3.0
TARGET_POSTS_S = 3.0


def local_pipeline(name: str, repo_url: str, package: list[str]) -> dict[str, object]:
    """A Local cloud pipeline: a checkout of `repo_url`, then `package`'s command lines."""
    stages = {
        "codeCheckout": {"mainRepo": {"type": "other", "otherCodeSource": {"url": repo_url}}},
        "package": {"command": package, "outputs": []},
    }
    return {"name": name, "build": {"builderImage": {"image": "local"}, "stages": stages}}


def parse_time(value: object) -> float:
    """Unix seconds of an RFC 3339 time from the API; NaN when absent or malformed."""
    if not isinstance(value, str) or not value:
        return math.nan
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return math.nan


def ms(values: list[float]) -> list[float]:
    return [v * 1000 for v in values if not math.isnan(v)]


# --- a) latency -----------------------------------------------------------------------------


@dataclass
class Sample:
    """One record of the latency run; times in unix seconds (NaN when unknown)."""

    record: str
    posted: float  # time.time() just before the POST
    post_s: float  # the POST's response time
    created: float = math.nan  # the record's startTime (the scheduler's clock)
    spawned: float = math.nan  # the worker process started (the cloud's log line)
    checkout: float = math.nan  # stageStatus.codeCheckout.startTime (the worker's clock)
    finished_seen: float = math.nan  # time.time() when the poll saw it finished
    status: str = ""
    error: str = ""

    @property
    def latency(self) -> float:
        return self.checkout - self.posted


def worker_spawned(data_dir: Path, record: str) -> float:
    """When the cloud started the record's worker: the first line of its worker log (the
    stack logs JSON here, whose lines carry the date)."""
    try:
        with (data_dir / "workspaces" / f"{record}.worker.log").open() as f:
            first = json.loads(f.readline())
    except (OSError, ValueError):
        return math.nan
    if not str(first.get("message", "")).startswith("starting "):
        return math.nan
    return parse_time(first.get("time"))


def run_one(api: httpx.Client, path: str, data_dir: Path) -> Sample:
    posted = time.time()
    sent = time.perf_counter()
    try:
        resp = api.post(path, json={"ref": "main"})
    except httpx.HTTPError as exc:
        return Sample("", posted, math.nan, error=f"POST: {type(exc).__name__}: {exc}")
    sample = Sample("", posted, time.perf_counter() - sent)
    if resp.status_code != 201:
        sample.error = f"POST: HTTP {resp.status_code} {resp.text[:300]}"
        return sample
    sample.record = resp.json()["id"]
    deadline = time.monotonic() + RECORD_TIMEOUT
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            got = api.get(f"{path}/{sample.record}")
        except httpx.HTTPError as exc:
            sample.error = f"GET: {type(exc).__name__}: {exc}"
            return sample
        if got.status_code != 200:
            sample.error = f"GET: HTTP {got.status_code} {got.text[:300]}"
            return sample
        doc = got.json()
        if doc["status"] in FINISHED:
            sample.finished_seen = time.time()
            break
        time.sleep(POLL_RECORD)
    sample.status = doc.get("status", "")
    if sample.status not in FINISHED:
        sample.error = f"not finished after {RECORD_TIMEOUT:g}s (status {sample.status})"
        return sample
    sample.created = parse_time(doc.get("startTime"))
    sample.checkout = parse_time(
        doc.get("stageStatus", {}).get("codeCheckout", {}).get("startTime")
    )
    sample.spawned = worker_spawned(data_dir, sample.record)
    if sample.status != "Success":
        sample.error = f"{sample.status}: {doc.get('errorMessage', '')}"
    elif math.isnan(sample.checkout):
        sample.error = f"no codeCheckout startTime: {json.dumps(doc.get('stageStatus'))[:300]}"
    return sample


# --- b) throughput --------------------------------------------------------------------------


@dataclass
class Batch:
    size: int
    posted: float = 0.0  # time.time() just before the first POST
    posts_s: float = 0.0  # until every POST was answered
    wall_s: float = math.nan  # until the poll saw every record finished
    last_end_s: float = math.nan  # the last record's endTime - the first POST
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> last view seen
    errors: list[str] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)  # each POST's response time

    def statuses(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for doc in self.records.values():
            out[doc.get("status", "?")] = out.get(doc.get("status", "?"), 0) + 1
        return out


def run_batch(api_url: str, path: str, size: int, timeout: float) -> Batch:
    """`size` POSTs from POSTERS threads, then a poll of the records page until all ended."""
    batch = Batch(size)
    lock = threading.Lock()

    def post_share(share: int) -> None:
        with client(api_url) as api:
            for _ in range(share):
                sent = time.perf_counter()
                try:
                    resp = api.post(path, json={"ref": "main"})
                    with lock:
                        batch.post_ms.append((time.perf_counter() - sent) * 1000)
                except httpx.HTTPError as exc:
                    problem = f"POST: {type(exc).__name__}: {exc}"
                else:
                    if resp.status_code == 201:
                        with lock:
                            batch.records[resp.json()["id"]] = resp.json()
                        continue
                    problem = f"POST: HTTP {resp.status_code} {resp.text[:300]}"
                with lock:
                    batch.errors.append(problem)

    shares = [size // POSTERS + (1 if i < size % POSTERS else 0) for i in range(POSTERS)]
    with ThreadPoolExecutor(POSTERS) as pool:
        batch.posted = time.time()
        started = time.perf_counter()
        list(pool.map(post_share, shares))
    batch.posts_s = time.perf_counter() - started
    say(f"throughput: {len(batch.records)} POSTs answered in {batch.posts_s:.2f}s")
    deadline = time.monotonic() + timeout
    with client(api_url) as api:
        while True:
            try:
                resp = api.get(path, params={"start": 0, "limit": MAX_BATCH})
                items = resp.json()["items"] if resp.status_code == 200 else []
            except (httpx.HTTPError, ValueError, KeyError):
                items = []
            for doc in items:
                if doc["id"] in batch.records:
                    batch.records[doc["id"]] = doc
            if all(d["status"] in FINISHED for d in batch.records.values()):
                batch.wall_s = time.perf_counter() - started
                break
            if time.monotonic() > deadline:
                break
            time.sleep(POLL_PAGE)
    ends = [parse_time(d.get("endTime")) for d in batch.records.values()]
    if ends and not any(math.isnan(e) for e in ends):
        batch.last_end_s = max(ends) - batch.posted
    for rid, doc in batch.records.items():
        if doc["status"] != "Success":
            why = doc.get("errorMessage") or (
                f"not finished after {timeout:g}s" if doc["status"] not in FINISHED else ""
            )
            batch.errors.append(f"{rid}: {doc['status']} {why}".rstrip())
    return batch


# --- c) the baseline ------------------------------------------------------------------------


def clone_and_run(url: str, work: Path) -> float:
    """`git clone` into a fresh temp dir, then `sh -e -c true` in the clone; its seconds."""
    started = time.perf_counter()
    where = Path(tempfile.mkdtemp(dir=work, prefix="clone-"))
    try:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        subprocess.run(
            ["git", "clone", "-q", "--", url, str(where / "code")],
            check=True,
            capture_output=True,
            env=env,
        )
        subprocess.run(["sh", "-e", "-c", "true"], cwd=where / "code", check=True)
    finally:
        shutil.rmtree(where, ignore_errors=True)
    return time.perf_counter() - started


def baseline_batch(url: str, size: int, work: Path) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(BASELINE_PARALLEL) as pool:
        list(pool.map(lambda _: clone_and_run(url, work), range(size)))
    return time.perf_counter() - started


def python_start() -> list[float]:
    """Seconds of `python -c "import services.worker.main"`, IMPORT_RUNS times."""
    env = bench_env()
    argv = [sys.executable, "-c", "import services.worker.main"]
    times = []
    for _ in range(IMPORT_RUNS):
        started = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


# --- the report -----------------------------------------------------------------------------


def row(label: str, values_ms: list[float]) -> str:
    p50, p95 = nearest_rank(values_ms, 50), nearest_rank(values_ms, 95)
    top = max(values_ms) if values_ms else math.nan
    return f"  {label:<58} {fmt(p50):>8} {fmt(p95):>8} {fmt(top):>8}"


def report(
    samples: list[Sample],
    batch: Batch,
    clone_runs: list[float],
    start_s: list[float],
    max_running: int,
    cpu: list[tuple[str, float, float]],
) -> str:
    clone_s = statistics.median(clone_runs) if clone_runs else math.nan
    good = [s for s in samples if not s.error]
    bad = [s for s in samples if s.error]
    latency = ms([s.latency for s in good])
    posts = ms([s.post_s for s in samples if not math.isnan(s.post_s)])
    lines = [
        f"bench.runs: CYCLONE_MAX_RUNNING={max_running}, Local cloud (a worker process per "
        f"record), CPUs: {os.cpu_count()}",
        "pipeline: codeCheckout (git clone of a local file:// repository, ref main) + package "
        "`true`",
        "",
        f"a) latency: {len(samples)} records one after another on an idle system",
        f"   (after 1 warm-up record; {PAUSE:g} s pause between records; GET every "
        f"{POLL_RECORD * 1000:g} ms)",
        f"  {'ms':<58} {'p50':>8} {'p95':>8} {'max':>8}",
        row("POST -> codeCheckout startTime (first stage running)", latency),
        row("POST response time", posts),
        "  of which:",
        row(
            "  POST -> record created (gateway, RPC, insert)",
            ms([s.created - s.posted for s in good]),
        ),
        row(
            "  created -> worker spawned (dispatch, cloud RPC, Popen)",
            ms([s.spawned - s.created for s in good]),
        ),
        row(
            "  spawned -> codeCheckout started (python, imports, job)",
            ms([s.checkout - s.spawned for s in good]),
        ),
        row("POST -> record seen finished", ms([s.finished_seen - s.posted for s in good])),
        f"  errors: {len(bad)}",
    ]
    lines += [f"    {s.record or '(no record)'}: {s.error}" for s in bad[:10]]
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(batch.statuses().items())) or "none"
    rate = len(batch.records) / batch.wall_s if batch.wall_s else math.nan
    lines += [
        "",
        f"b) throughput: {batch.size} records POSTed at once from {POSTERS} threads",
        f"   (finished as seen by a GET of the records page every {POLL_PAGE * 1000:g} ms)",
        f"  all POSTs answered after          {batch.posts_s:8.2f} s",
        f"  {'ms':<58} {'p50':>8} {'p95':>8} {'max':>8}",
        row("a POST's response time, under this load", batch.post_ms),
        f"  all records finished after        {fmt(batch.wall_s, '8.2f')} s"
        f"  ({fmt(rate, '.2f')} records/s)",
        f"  last endTime - first POST         {fmt(batch.last_end_s, '8.2f')} s",
        f"  statuses: {statuses}",
        f"  errors: {len(batch.errors)}",
    ]
    lines += [f"    {e}" for e in batch.errors[:20]]
    if len(batch.errors) > 20:
        lines.append(f"    ... and {len(batch.errors) - 20} more")
    n = max(len(batch.records), 1)
    lines += [
        f"  CPU spent during the batch, per record (ms; {fmt(batch.last_end_s, '.1f')} s x "
        f"{os.cpu_count()} CPUs = "
        f"{fmt(batch.last_end_s * (os.cpu_count() or 1) * 1000 / n, '.0f')} ms per record):",
        f"    {'process':<48} {'own':>8} {'reaped children':>16}",
    ]
    lines += [
        f"    {name:<48} {own * 1000 / n:8.1f} {kids * 1000 / n:16.1f}"
        for name, own, kids in cpu
        if own + kids >= 0.05
    ]
    total = sum(own + kids for _, own, kids in cpu)
    lines.append(f"    {'total':<48} {total * 1000 / n:8.1f}")
    start_ms = ms(start_s)
    start_p50 = nearest_rank(start_ms, 50)
    latency_p50 = nearest_rank(latency, 50)
    tput_ratio = batch.last_end_s / clone_s if clone_s else math.nan
    lat_ratio = latency_p50 / start_p50 if start_p50 else math.nan
    lines += [
        "",
        "c) baseline, the same work without Cyclone (measured before the stack started)",
        f"  git clone + sh -e -c true, {batch.size} times, {BASELINE_PARALLEL} at a time: "
        f"{clone_s:.2f} s ({clone_s / batch.size * 1000:.0f} ms per record of wall time; the "
        f"median of {', '.join(f'{run:.2f}' for run in clone_runs)} s)",
        f'  python -c "import services.worker.main", {IMPORT_RUNS} times: p50 '
        f"{fmt(start_p50)} ms, max {fmt(max(start_ms) if start_ms else math.nan)} ms",
        f"  throughput: Cyclone wall / baseline wall = {fmt(tput_ratio, '.2f')}",
        f"  latency: Cyclone first-stage p50 / python start p50 = {fmt(lat_ratio, '.2f')}",
        "",
        "targets:",
    ]
    every_success = not bad and not batch.errors and len(batch.records) == batch.size
    figures = [
        Figure(
            "runs",
            "POST -> first stage running, Local cloud, p50",
            latency_p50,
            "ms",
            "<=",
            TARGET_LATENCY_P50_MS,
            start_p50,
            checks=not bad,
        ),
        Figure(
            "runs",
            "POST -> first stage running, Local cloud, p95",
            nearest_rank(latency, 95),
            "ms",
            "<=",
            TARGET_LATENCY_P95_MS,
            checks=not bad,
        ),
        Figure(
            "runs",
            f"{batch.size} trivial records at concurrency {max_running} (first POST to last end)",
            batch.last_end_s,
            "s",
            "<=",
            TARGET_BATCH_S,
            clone_s,
            checks=every_success,
        ),
        Figure(
            "runs",
            f"{batch.size} records / the same work without Cyclone",
            tput_ratio,
            "x",
            "<=",
            TARGET_BATCH_RATIO,
            checks=every_success,
        ),
        Figure(
            "runs",
            f"{batch.size} POSTs from {POSTERS} threads while records run, all answered",
            batch.posts_s,
            "s",
            "<=",
            TARGET_POSTS_S,
            checks=not batch.errors,
        ),
    ]
    record(figures)
    lines += targets_lines(figures)
    return "\n".join(lines)


# --- the run --------------------------------------------------------------------------------


def run(lab: Lab, records: int, batch_size: int, max_running: int) -> str:
    try:
        repo = make_git_repo(lab.work / "git")
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SetupError(f"making the git repository: {exc}") from exc
    say(f"git repository {repo.url}")
    # The bare work first, with no stack running: measured after the batch it took 1.1-3.7 s
    # as the stack's clean-up of 100 records (workspaces, retention, upkeep) ran beside it.
    clone_runs, start_s = baselines(repo.url, batch_size, lab.work)
    lab.start_stack(
        {
            "CYCLONE_MAX_RUNNING": str(max_running),
            "CYCLONE_LOG_FORMAT": "json",  # dated lines: when each worker was started
            # keep every record of the run readable (the default keeps 50 per pipeline)
            "CYCLONE_RECORDS_PER_PIPELINE": str(records + batch_size + 10),
        }
    )
    with client(lab.api) as api:
        create(api, "/api/v1/projects", {"name": PROJECT, "scm": SCM})
        create(
            api,
            f"/api/v1/projects/{PROJECT}/pipelines",
            local_pipeline(PIPELINE, repo.url, ["true"]),
        )
        path = f"/api/v1/projects/{PROJECT}/pipelines/{PIPELINE}/records"
        warm = run_one(api, path, lab.data_dir)
        if warm.error:
            raise SetupError(f"the warm-up record failed: {warm.record} {warm.error}")
        say(f"latency: {records} records one after another")
        samples = []
        for n in range(records):
            time.sleep(PAUSE)
            samples.append(run_one(api, path, lab.data_dir))
            if (n + 1) % 10 == 0:
                say(f"latency: {n + 1}/{records}")
    time.sleep(PAUSE)
    say(f"throughput: {batch_size} records at once")
    roots = [child.proc.pid for child in lab.children]
    broker = broker_pids()
    cpu_before = cpu_by_process(roots, broker)
    batch = run_batch(lab.api, path, batch_size, timeout=max(300.0, batch_size * 10.0))
    cpu = cpu_spent(cpu_before, cpu_by_process(roots, broker))
    for child in lab.children:
        child.check()
    return report(samples, batch, clone_runs, start_s, max_running, cpu)


def baselines(url: str, batch_size: int, work: Path) -> tuple[list[float], list[float]]:
    """The bare work BASELINE_TRIES times and the worker's cold import, before any stack runs:
    measured after the batch, beside the stack's clean-up of its records (workspaces,
    retention, upkeep), the bare batch took anything from 1.1 to 3.7 s."""
    try:
        say(f"baseline: git clone + sh, {batch_size} times, {BASELINE_PARALLEL} at a time")
        clone_runs = [baseline_batch(url, batch_size, work) for _ in range(BASELINE_TRIES)]
        say(f'baseline: python -c "import services.worker.main", {IMPORT_RUNS} times')
        return clone_runs, python_start()
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise SetupError(f"baseline: {exc} {detail.decode(errors='replace')}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.runs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--records", type=int, default=50, help="records for the latency run")
    parser.add_argument("--batch", type=int, default=100, help="records for the throughput run")
    args = parser.parse_args(argv)
    if args.records < 1 or not 1 <= args.batch <= MAX_BATCH:
        parser.error(f"--records must be >= 1 and --batch between 1 and {MAX_BATCH}")
    try:
        max_running = int(os.environ.get("CYCLONE_MAX_RUNNING") or 4)
    except ValueError:
        parser.error("CYCLONE_MAX_RUNNING must be an integer")
    interrupt_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="cyclone-bench-runs-"))
    lab = Lab(work, f"cyclone-bench-runs-{os.getpid()}")
    return run_and_report(
        work, lambda: run(lab, args.records, args.batch, max_running), lab.stop_all
    )


if __name__ == "__main__":
    sys.exit(main())
