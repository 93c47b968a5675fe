"""`python -m bench.api`: the gateway's throughput and latency against a bare Falcon baseline.

Starts everything it measures and stops it again:

1. its own secantusdb (MongoDB-compatible) server in a fresh temp dir;
2. a whole Cyclone stack (`python -m tools.stack`, as `make run`) on that server, on a free
   port, with a fixed API token, no access log and CYCLONE_API_WORKERS gunicorn workers
   (default 2), on the broker of CYCLONE_AMQP_URI (default: the launcher's);
3. the baseline (bench/baseline_app.py) under the same server, `gunicorn -k asgi` with the same
   number of workers, reading the same Mongo server.

Then it runs three scenarios one after the other, each with `--clients` threads (one keep-alive
httpx.Client each) for a 2 s warm-up plus `--seconds`: the gateway's GET of one project, the
gateway's POST of new projects, and the baseline's GET of the same project. It prints requests/s,
p50/p90/p99 latency and errors per scenario and the targets with PASS/FAIL.

Exit status: 0 once the report is printed, whatever it says; 2 when the setup failed, 130 when
interrupted (Ctrl-C or SIGTERM; the children are stopped either way).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-" + "x" * 26  # fixed: the stack is private to this run
PROJECT = "bench-get"  # the project the GET scenarios read
SCM = {"type": "Github", "server": "https://github.com", "token": "t"}
WARMUP = 2.0
HEALTH_TIMEOUT = 90.0
REQUEST_TIMEOUT = 10.0
ERROR_SAMPLES = 3

TARGET_P50_MS = 5.0
TARGET_RPS = 400.0
TARGET_RATIO = 0.5


class SetupError(Exception):
    """Something the benchmark needs did not start; the report cannot be made."""


def say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- child processes ------------------------------------------------------------------------


def _child_setup() -> None:
    """In the child: SIGTERM when the benchmark dies, even by SIGKILL (Linux prctl)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _proc_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (tells a process from a later one with its pid)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


def _descendants(root: int) -> set[tuple[int, str]]:
    """(pid, start time) of every live process below `root`; empty without /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[tuple[int, str]] = set()
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        started = _proc_start_time(pid)
        if started is not None:
            found.add((pid, started))
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(root: int) -> float:
    """User + system CPU time used so far by `root` and the live processes below it."""
    total = 0
    for pid in {root} | {pid for pid, _ in _descendants(root)}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


class Child:
    """One process the benchmark started, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self.tree: set[tuple[int, str]] = set()
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_child_setup,
                start_new_session=True,  # a Ctrl-C reaches only us; we stop children in order
            )
        say(f"started {name} (pid {self.proc.pid}), log {log}")

    def running(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        if not self.running():
            raise SetupError(f"{self.name} exited with {self.proc.returncode}\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def remember_tree(self) -> None:
        """Note the processes below this one, to check after stop() that none is left."""
        self.tree |= _descendants(self.proc.pid)

    def stop(self, sig: signal.Signals, timeout: float) -> list[int]:
        """Stop with `sig`, kill after `timeout`; returns the pids that had to be killed."""
        self.remember_tree()
        killed: list[int] = []
        if self.running():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                killed.append(self.proc.pid)
        deadline = time.monotonic() + 5
        for pid, started in sorted(self.tree):
            while _proc_start_time(pid) == started and time.monotonic() < deadline:
                time.sleep(0.1)
            if _proc_start_time(pid) == started:  # still the same process: ours, left behind
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        return killed


def wait_until(what: str, child: Child, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child.check()
        with contextlib.suppress(OSError, httpx.HTTPError):
            if ready():
                return
        time.sleep(0.25)
    raise SetupError(f"{what} not ready in {timeout:g}s\n{child.tail()}")


def port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


def answers(url: str, status: int) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=3).status_code == status


# --- load -----------------------------------------------------------------------------------

Send = Callable[[httpx.Client, int, int], httpx.Response]  # (client, client no, request no)


@dataclass(frozen=True)
class Scenario:
    name: str
    base_url: str
    expect: int
    send: Send
    app_pid: int  # the gunicorn master serving it: its CPU time is measured with its workers
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list[float]  # seconds, successful requests completed inside the window
    errors: int = 0  # unexpected status or transport failure, warm-up included
    samples: list[str] = field(default_factory=list)
    app_cpu: float = 0.0  # CPU seconds in the window: the app's gunicorn master and workers,
    db_cpu: float = 0.0  # the database server,
    client_cpu: float = 0.0  # and this process (the 16 clients)

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def cpu_ms_per_request(self, cpu: float) -> float:
        return cpu * 1000 / len(self.latencies) if self.latencies else math.nan

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile in milliseconds; NaN without successful requests."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[rank - 1] * 1000


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    samples: list[str] = field(default_factory=list)


def run(
    scenario: Scenario, db_pid: int, clients: int, seconds: float, warmup: float = WARMUP
) -> Result:
    """`clients` threads send back to back; latencies count inside [warm-up end, end].

    Meanwhile this thread samples the CPU time of the app, the database and this process at
    both ends of the window.
    """
    window = [0.0, 0.0]
    opened = threading.Event()

    def open_window() -> None:  # runs once, when every client is connected and ready
        now = time.perf_counter()
        window[:] = [now + warmup, now + warmup + seconds]
        opened.set()

    barrier = threading.Barrier(clients, action=open_window)
    tallies = [_Tally() for _ in range(clients)]

    def client_loop(no: int) -> None:
        tally = tallies[no]
        with httpx.Client(
            base_url=scenario.base_url, headers=scenario.headers, timeout=REQUEST_TIMEOUT
        ) as client:
            barrier.wait()
            start, end = window
            seq = 0
            while (sent := time.perf_counter()) < end:
                problem = None
                try:
                    resp = scenario.send(client, no, seq)
                    if resp.status_code != scenario.expect:
                        problem = f"HTTP {resp.status_code}: {resp.text[:200]}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                done = time.perf_counter()
                seq += 1
                if problem is not None:
                    tally.errors += 1
                    if len(tally.samples) < ERROR_SAMPLES:
                        tally.samples.append(problem)
                elif start <= done <= end:
                    tally.latencies.append(done - sent)

    threads = [
        threading.Thread(target=client_loop, args=(no,), name=f"client-{no}", daemon=True)
        for no in range(clients)
    ]
    for t in threads:
        t.start()
    if not opened.wait(60):
        raise SetupError(f"{scenario.name}: the clients did not start")
    start, end = window

    def cpu() -> tuple[float, float, float]:
        return cpu_seconds(scenario.app_pid), cpu_seconds(db_pid), time.process_time()

    time.sleep(max(0.0, start - time.perf_counter()))
    before = cpu()
    time.sleep(max(0.0, end - time.perf_counter()))
    app_cpu, db_cpu, client_cpu = (b - a for a, b in zip(before, cpu(), strict=True))
    for t in threads:
        t.join()
    result = Result(
        scenario.name, seconds, [], app_cpu=app_cpu, db_cpu=db_cpu, client_cpu=client_cpu
    )
    for tally in tallies:
        result.latencies.extend(tally.latencies)
        result.errors += tally.errors
        result.samples.extend(tally.samples[: ERROR_SAMPLES - len(result.samples)])
    return result


# --- the report -----------------------------------------------------------------------------


def _num(value: float, fmt: str) -> str:
    return "-" if math.isnan(value) else format(value, fmt)


def report(results: list[Result], gateway_get: Result, baseline: Result, setup: str) -> str:
    lines = [setup, ""]
    lines.append(
        f"{'scenario':<36} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'errors':>6}"
        f" | {'CPU ms/req: app':>15} {'db':>5} | {'clients CPU':>11}"
    )
    for r in results:
        lines.append(
            f"{r.name:<36} {r.rps:>8.1f} {_num(r.percentile_ms(50), '.2f'):>7} "
            f"{_num(r.percentile_ms(90), '.2f'):>7} {_num(r.percentile_ms(99), '.2f'):>7} "
            f"{r.errors:>6} | {_num(r.cpu_ms_per_request(r.app_cpu), '.3f'):>15} "
            f"{_num(r.cpu_ms_per_request(r.db_cpu), '.3f'):>5} | "
            f"{r.client_cpu / r.seconds:>10.0%}"
        )
    lines.append(
        "(CPU ms/req: CPU time of the app's gunicorn processes and of the database server per "
        "successful request; clients CPU: this process, 100% = one core)"
    )
    ratio = gateway_get.rps / baseline.rps if baseline.rps else math.nan
    lines += ["", f"gateway GET throughput / baseline GET throughput: {_num(ratio, '.3f')}", ""]
    p50 = gateway_get.percentile_ms(50)
    targets = [
        (f"GET p50 <= {TARGET_P50_MS:g} ms", f"{_num(p50, '.2f')} ms", p50 <= TARGET_P50_MS),
        (
            f"GET >= {TARGET_RPS:g} req/s",
            f"{gateway_get.rps:.1f} req/s",
            gateway_get.rps >= TARGET_RPS,
        ),
        (
            f"GET throughput >= {TARGET_RATIO:g} x baseline",
            f"{_num(ratio, '.3f')} x",
            ratio >= TARGET_RATIO,
        ),
    ]
    lines.append("targets (gateway GET /api/v1/projects/{name}):")
    for label, measured, ok in targets:  # a NaN compares False: no data is a FAIL
        lines.append(f"  {label:<34} {measured:>14}  {'PASS' if ok else 'FAIL'}")
    failed = [r for r in results if r.errors]
    if failed:
        lines += ["", "THIS RUN HAD ERRORS; the figures above count successful requests only:"]
        for r in failed:
            lines.append(f"  {r.name}: {r.errors} errors, e.g.")
            lines += [f"    {sample}" for sample in r.samples]
    return "\n".join(lines)


# --- the run --------------------------------------------------------------------------------


@dataclass
class Bench:
    clients: int
    seconds: float
    workers: int
    work: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = Child(name, argv, env, self.work / f"{name}.log")
        self.children.append(child)
        return child

    def stop_all(self) -> list[str]:
        """Stop in reverse start order (stack before its database); returns what was left."""
        left: list[str] = []
        for child in reversed(self.children):
            # The launcher stops its children on SIGINT (like Ctrl-C on `make run`) and waits
            # up to 15 s for them; gunicorn and secantusdb stop on SIGTERM.
            sig, timeout = (
                (signal.SIGINT, 40.0) if child.name == "stack" else (signal.SIGTERM, 20.0)
            )
            killed = child.stop(sig, timeout)
            if killed:
                left.append(f"{child.name}: killed {killed} that did not stop in time")
        self.children.clear()
        return left

    def run(self) -> str:
        base_env = {**os.environ, "PYTHONPATH": str(ROOT)}
        base_env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")

        mongo_port = free_port()
        mongo = self.start(
            "secantusdb",
            [
                sys.executable,
                "-m",
                "secantus",
                "--host",
                "127.0.0.1",
                "--port",
                str(mongo_port),
                "--storage-path",
                str(self.work / "mongo"),
                "--log-level",
                "WARNING",
            ],
            base_env,
        )
        wait_until("secantusdb", mongo, lambda: port_open(mongo_port), 60)
        mongo_url = f"mongodb://127.0.0.1:{mongo_port}/cyclone?retryWrites=false"

        api_port = free_port()
        api = f"http://127.0.0.1:{api_port}"
        stack = self.start(
            "stack",
            [sys.executable, "-m", "tools.stack"],
            {
                **base_env,
                "CYCLONE_DATA_DIR": str(self.work / "data"),
                "CYCLONE_PORT": str(api_port),
                "CYCLONE_API_TOKEN": TOKEN,
                "CYCLONE_ACCESS_LOG": "off",
                "CYCLONE_API_WORKERS": str(self.workers),
                "CYCLONE_MONGO_URL": mongo_url,
            },
        )
        wait_until(
            "the stack (GET /healthz)", stack, answers(f"{api}/healthz", 200), HEALTH_TIMEOUT
        )
        say(f"stack healthy on {api}")

        auth = {"Authorization": f"Bearer {TOKEN}"}
        try:
            created = httpx.post(
                f"{api}/api/v1/projects",
                json={"name": PROJECT, "scm": SCM},
                headers=auth,
                timeout=REQUEST_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise SetupError(f"creating {PROJECT}: {type(exc).__name__}: {exc}") from exc
        if created.status_code != 201:
            raise SetupError(f"creating {PROJECT}: HTTP {created.status_code} {created.text}")

        base_port = free_port()
        baseline_url = f"http://127.0.0.1:{base_port}"
        baseline = self.start(
            "baseline",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-k",
                "asgi",
                "-w",
                str(self.workers),
                "-b",
                f"127.0.0.1:{base_port}",
                "--no-control-socket",
                "--graceful-timeout",
                "5",
                "bench.baseline_app:get_app()",
            ],
            {**base_env, "BENCH_MONGO_URL": mongo_url},
        )
        wait_until("the baseline", baseline, answers(f"{baseline_url}/projects/{PROJECT}", 200), 30)
        say(f"baseline up on {baseline_url}")
        for child in self.children:  # gunicorn workers, services: checked again after stop
            child.remember_tree()
        try:
            api_pid = int(json.loads((self.work / "data" / "pids.json").read_text())["api"])
        except (OSError, ValueError, KeyError) as exc:
            raise SetupError(f"no gateway pid in the stack's pids.json: {exc}") from exc

        run_id = secrets.token_hex(3)

        def get_project(client: httpx.Client, _no: int, _seq: int) -> httpx.Response:
            return client.get(f"/api/v1/projects/{PROJECT}")

        def post_project(client: httpx.Client, no: int, seq: int) -> httpx.Response:
            body = {"name": f"b{run_id}-{no}-{seq}", "scm": SCM}
            return client.post("/api/v1/projects", json=body)

        def get_baseline(client: httpx.Client, _no: int, _seq: int) -> httpx.Response:
            return client.get(f"/projects/{PROJECT}")

        gateway_get = Scenario(
            "gateway GET /api/v1/projects/{name}", api, 200, get_project, api_pid, auth
        )
        gateway_post = Scenario(
            "gateway POST /api/v1/projects", api, 201, post_project, api_pid, auth
        )
        base_get = Scenario(
            "baseline GET /projects/{name}", baseline_url, 200, get_baseline, baseline.proc.pid
        )

        results: dict[str, Result] = {}
        for scenario in (gateway_get, base_get, gateway_post):
            say(f"{scenario.name}: {WARMUP:g} + {self.seconds:g} s, {self.clients} clients")
            results[scenario.name] = run(scenario, mongo.proc.pid, self.clients, self.seconds)
            stack.check()
            baseline.check()
        setup = (
            f"clients: {self.clients} (threads, keep-alive); {WARMUP:g} s warm-up + "
            f"{self.seconds:g} s per scenario; gunicorn ASGI workers: {self.workers} each; "
            f"CPUs: {os.cpu_count()}, shared by servers and clients"
        )
        return report(
            list(results.values()), results[gateway_get.name], results[base_get.name], setup
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (threads)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.clients < 1:
        parser.error("--seconds must be > 0 and --clients >= 1")
    try:
        workers = int(os.environ.get("CYCLONE_API_WORKERS") or 2)
    except ValueError:
        parser.error("CYCLONE_API_WORKERS must be an integer")

    def interrupted(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # a `kill` stops the children like a Ctrl-C
    work = Path(tempfile.mkdtemp(prefix="cyclone-bench-"))
    bench = Bench(args.clients, args.seconds, workers, work)
    text: str | None = None
    failure = 2
    try:
        text = bench.run()
    except SetupError as exc:
        say(f"setup failed: {exc}")
    except KeyboardInterrupt:
        say("interrupted")
        failure = 130
    finally:
        say("stopping")
        left = bench.stop_all()
        for line in left:
            say(line)
        if text is not None and not left:
            shutil.rmtree(work, ignore_errors=True)
        else:
            say(f"logs kept in {work}")
    if text is None:
        return failure
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
