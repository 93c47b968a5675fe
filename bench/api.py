"""`python -m bench.api`: the gateway's throughput and latency against a bare Falcon baseline.

Starts everything it measures and stops it again:

1. its own secantusdb (MongoDB-compatible) server in a fresh temp dir;
2. a whole Cyclone stack (`python -m tools.stack`, as `make run`) on that server, on a free
   port, with a fixed API token, no access log and CYCLONE_API_WORKERS gunicorn workers
   (default 1, as `make run`), on the broker of CYCLONE_AMQP_URI (default: the launcher's);
3. the baseline (bench/baseline_app.py) under the same server, `gunicorn -k asgi` with the same
   number of workers, reading the same Mongo server.

Then it runs three scenarios one after the other, each with `--clients` keep-alive connections
for a 2 s warm-up plus `--seconds`: the gateway's GET of one project, the gateway's POST of new
projects, and the baseline's GET of the same project. It prints requests/s, p50/p90/p99 latency
and errors per scenario and the targets with PASS/FAIL.

The load generator (`--load`): `wrk` (default when it is on PATH; `apt-get install wrk`), a C
program light enough to leave the CPUs to the servers, run as
`wrk -t2 -c<clients> -d<seconds>s --latency` after a discarded warm-up run, with a Lua script
for the POST; or `python`, `--clients` threads in this process, one httpx.Client each, which
on a small machine take about as much CPU as the servers and so inflate their latencies.

Exit status: 0 once the report is printed, whatever it says; 2 when the setup failed, 130 when
interrupted (Ctrl-C or SIGTERM; the children are stopped either way).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.common import (
    REQUEST_TIMEOUT,
    ROOT,
    TOKEN,
    Child,
    SetupError,
    answers,
    bench_env,
    child_setup,
    cpu_seconds,
    free_port,
    interrupt_on_sigterm,
    run_and_report,
    say,
    start_database,
    start_stack,
    stop_children,
    wait_until,
)
from bench.summary import Figure, record, targets_lines

PROJECT = "bench-get"  # the project the GET scenarios read
SCM = {"type": "Github", "server": "https://github.com", "token": "t"}
WARMUP = 2.0
ERROR_SAMPLES = 3
PERCENTILES = (50, 90, 99)
WRK_THREADS = 2  # wrk's -t: one event loop per thread, enough for a few thousand req/s
LOADS = ("auto", "wrk", "python")

GATEWAY_WORKER = "services.api.server.GatewayWorker"
TARGET_P50_MS = 5.0
TARGET_RPS = 400.0
TARGET_RATIO = 0.5


# --- load -----------------------------------------------------------------------------------

Send = Callable[[httpx.Client, int, int], httpx.Response]  # (client, client no, request no)


@dataclass(frozen=True)
class Scenario:
    name: str
    base_url: str
    path: str  # what wrk requests (the python clients' `send` knows its own)
    expect: int
    send: Send
    app_pid: int  # the gunicorn master serving it: its CPU time is measured with its workers
    headers: dict[str, str] = field(default_factory=dict)
    lua: str | None = None  # wrk's script, for requests other than a plain GET


@dataclass
class Result:
    name: str
    seconds: float  # the measured window
    requests: int  # successful requests completed inside the window
    percentiles_ms: dict[int, float]  # PERCENTILES -> latency in ms; empty without requests
    errors: int = 0  # unexpected status or transport failure, warm-up included
    samples: list[str] = field(default_factory=list)
    app_cpu: float = 0.0  # CPU seconds in the window: the app's gunicorn master and workers,
    db_cpu: float = 0.0  # the database server,
    load_cpu: float = 0.0  # and the load generator (this process, or wrk)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def cpu_ms_per_request(self, cpu: float) -> float:
        return cpu * 1000 / self.requests if self.requests else math.nan

    def percentile_ms(self, q: int) -> float:
        """Latency percentile `q` (one of PERCENTILES) in ms; NaN without successful requests."""
        return self.percentiles_ms.get(q, math.nan)


def nearest_rank_ms(latencies: list[float]) -> dict[int, float]:
    """Nearest-rank PERCENTILES of `latencies` (seconds), in milliseconds; empty for none."""
    if not latencies:
        return {}
    ordered = sorted(latencies)
    return {q: ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1] * 1000 for q in PERCENTILES}


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    samples: list[str] = field(default_factory=list)


def run_python(
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
    app_cpu, db_cpu, load_cpu = (b - a for a, b in zip(before, cpu(), strict=True))
    for t in threads:
        t.join()
    latencies = [latency for tally in tallies for latency in tally.latencies]
    result = Result(
        scenario.name,
        seconds,
        len(latencies),
        nearest_rank_ms(latencies),
        app_cpu=app_cpu,
        db_cpu=db_cpu,
        load_cpu=load_cpu,
    )
    for tally in tallies:
        result.errors += tally.errors
        result.samples.extend(tally.samples[: ERROR_SAMPLES - len(result.samples)])
    return result


# wrk's script for the POST scenario. wrk runs it in one Lua state per thread (plus one for
# setup() and done()): setup() numbers the threads, init() takes the name prefix from the
# command line (after `--`; one per wrk run, so that the warm-up's names differ from the
# measured run's), request() counts. response() makes wrk read the bodies: it counts the
# statuses other than 201 and keeps a few; done() prints them for parse_wrk().
WRK_POST_LUA = """\
local scm = [[@SCM@]]
local prefix = "bench"
local threads = {}
local counter = 0
unexpected = 0
samples = {}

wrk.headers["Content-Type"] = "application/json"

function setup(thread)
   thread:set("id", #threads)
   threads[#threads + 1] = thread
end

function init(args)
   prefix = args[1] or prefix
end

function request()
   counter = counter + 1
   local body = string.format('{"name": "%s-%d-%d", "scm": %s}', prefix, id, counter, scm)
   return wrk.format("POST", nil, nil, body)
end

function response(status, headers, body)
   if status ~= @EXPECT@ then
      unexpected = unexpected + 1
      if #samples < @SAMPLES@ then
         local text = string.sub(body, 1, 200):gsub("%s+", " ")
         samples[#samples + 1] = "HTTP " .. status .. ": " .. text
      end
   end
end

function done(summary, latency, requests)
   for _, thread in ipairs(threads) do
      io.write(string.format("bench-unexpected: %d\\n", thread:get("unexpected")))
      for _, sample in ipairs(thread:get("samples")) do
         io.write("bench-sample: " .. sample .. "\\n")
      end
   end
end
"""


def post_lua(expect: int) -> str:
    """WRK_POST_LUA for the benchmark's SCM and an expected status."""
    lua = WRK_POST_LUA.replace("@SCM@", json.dumps(SCM)).replace("@EXPECT@", str(expect))
    return lua.replace("@SAMPLES@", str(ERROR_SAMPLES))


_WRK_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_WRK_TIME = r"(\d+(?:\.\d+)?)(us|ms|s|m|h)"


def _wrk_ms(value: str, unit: str) -> float:
    return float(value) * _WRK_UNIT_MS[unit]


@dataclass
class WrkOutput:
    """What bench needs from one wrk run's report (and from WRK_POST_LUA's done())."""

    complete: int  # responses, whatever their status
    seconds: float  # wrk's run time
    percentiles_ms: dict[int, float]  # of all the responses (wrk keeps no other histogram)
    socket_errors: int  # connect, read, write, timeout
    unexpected: int  # statuses >= 400 (wrk's "Non-2xx or 3xx"), or != 201 by WRK_POST_LUA
    samples: list[str]

    @property
    def ok(self) -> int:
        return max(0, self.complete - self.unexpected)

    @property
    def errors(self) -> int:
        return self.socket_errors + self.unexpected


def parse_wrk(out: str) -> WrkOutput:
    """Reads `wrk --latency` output; raises ValueError when a figure is missing."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, out, re.MULTILINE)
        if match is None:
            raise ValueError(f"no match for {pattern!r}")
        return match

    done = find(rf"^\s*(\d+) requests in {_WRK_TIME},")
    complete = int(done[1])
    rate = float(find(r"^Requests/sec:\s+(\d+(?:\.\d+)?)")[1])
    # wrk prints req/s = complete / run time, with more digits than the run time itself
    seconds = complete / rate if complete and rate else _wrk_ms(done[2], done[3]) / 1000
    dist = {
        round(float(m[1])): _wrk_ms(m[2], m[3])
        for m in re.finditer(rf"^\s*(\d+(?:\.\d+)?)%\s+{_WRK_TIME}\s*$", out, re.MULTILINE)
    }
    if missing := [q for q in PERCENTILES if q not in dist]:
        raise ValueError(f"no {missing} in the latency distribution")
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(n) for n in sock.groups()) if sock else 0
    status = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    samples = []
    if sock:
        samples.append(sock[0])
    scripted = re.findall(r"^bench-unexpected: (\d+)$", out, re.MULTILINE)
    if scripted:  # WRK_POST_LUA counted the statuses itself
        unexpected = sum(int(n) for n in scripted)
        samples += re.findall(r"^bench-sample: (.*)$", out, re.MULTILINE)
    else:
        unexpected = int(status[1]) if status else 0
        if status:
            samples.append(f"{status[0]} (wrk keeps no bodies)")
    return WrkOutput(
        complete, seconds, {q: dist[q] for q in PERCENTILES}, socket_errors, unexpected, samples
    )


def wrk_version(wrk: str) -> str:
    """`wrk <version>` from `wrk --version` (which exits with 1), or just `wrk`."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            [wrk, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
        if match := re.match(r"wrk (\S+)", out):
            return f"wrk {match[1]}"
    return "wrk"


def wrk_threads(clients: int) -> int:
    """wrk gives each thread connections // threads: keep every client."""
    return WRK_THREADS if clients % WRK_THREADS == 0 else 1


def _children_cpu() -> float:
    """User + system CPU time of this process's reaped children (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk_once(
    wrk: str, scenario: Scenario, clients: int, seconds: int, script: Path | None, prefix: str
) -> WrkOutput:
    argv = [wrk, "-t", str(wrk_threads(clients)), "-c", str(clients), "-d", f"{seconds}s"]
    argv += ["--latency", "--timeout", f"{math.ceil(REQUEST_TIMEOUT)}s"]
    for name, value in scenario.headers.items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(scenario.base_url + scenario.path)
    if script is not None:
        argv += ["--", prefix]
    try:
        done = subprocess.run(
            argv,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=seconds + REQUEST_TIMEOUT + 30,
            preexec_fn=child_setup,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"{scenario.name}: {' '.join(argv)}: {exc}") from exc
    try:
        if done.returncode != 0:
            raise ValueError(f"exit status {done.returncode}")
        return parse_wrk(done.stdout)
    except ValueError as exc:
        raise SetupError(
            f"{scenario.name}: {' '.join(argv)}: {exc}\n{done.stdout}{done.stderr}"
        ) from exc


def run_wrk(
    wrk: str,
    scenario: Scenario,
    db_pid: int,
    clients: int,
    seconds: int,
    work: Path,
    prefix: str,
    warmup: float = WARMUP,
) -> Result:
    """A warm-up wrk run (its figures dropped, its errors counted), then the measured one.

    The CPU time of the app and the database is sampled just before the measured run starts
    and just after it ends; wrk's own is what it used, from getrusage(RUSAGE_CHILDREN).
    """
    script = None
    if scenario.lua is not None:
        script = work / f"wrk-{re.sub(r'[^a-z0-9]+', '-', scenario.name.lower()).strip('-')}.lua"
        script.write_text(scenario.lua)
    warm = wrk_once(wrk, scenario, clients, max(1, math.ceil(warmup)), script, f"{prefix}w")

    def cpu() -> tuple[float, float, float]:
        return cpu_seconds(scenario.app_pid), cpu_seconds(db_pid), _children_cpu()

    before = cpu()
    measured = wrk_once(wrk, scenario, clients, seconds, script, f"{prefix}m")
    app_cpu, db_cpu, load_cpu = (b - a for a, b in zip(before, cpu(), strict=True))
    return Result(
        scenario.name,
        measured.seconds,
        measured.ok,
        measured.percentiles_ms if measured.ok else {},
        errors=warm.errors + measured.errors,
        samples=(warm.samples + measured.samples)[:ERROR_SAMPLES],
        app_cpu=app_cpu,
        db_cpu=db_cpu,
        load_cpu=load_cpu,
    )


# --- the report -----------------------------------------------------------------------------


def _num(value: float, fmt: str) -> str:
    return "-" if math.isnan(value) else format(value, fmt)


def report(
    results: list[Result], gateway_get: Result, baseline: Result, setup: str, load: str
) -> str:
    """The table, the ratio and the targets; `load` is the load generator, wrk or python."""
    lines = [setup, ""]
    load_cpu = "wrk CPU" if load == "wrk" else "clients CPU"
    lines.append(
        f"{'scenario':<36} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'errors':>6}"
        f" | {'CPU ms/req: app':>15} {'db':>5} | {load_cpu:>11}"
    )
    for r in results:
        lines.append(
            f"{r.name:<36} {r.rps:>8.1f} {_num(r.percentile_ms(50), '.2f'):>7} "
            f"{_num(r.percentile_ms(90), '.2f'):>7} {_num(r.percentile_ms(99), '.2f'):>7} "
            f"{r.errors:>6} | {_num(r.cpu_ms_per_request(r.app_cpu), '.3f'):>15} "
            f"{_num(r.cpu_ms_per_request(r.db_cpu), '.3f'):>5} | "
            f"{r.load_cpu / r.seconds:>10.0%}"
        )
    lines.append(
        "(CPU ms/req: CPU time of the app's gunicorn processes and of the database server per "
        "successful request; "
        + (
            "wrk CPU: the measured wrk run, 100% = one core;\n"
            " p50/p90/p99: wrk's latency distribution of all the responses, with its correction "
            "for coordinated omission)"
            if load == "wrk"
            else "clients CPU: this process, 100% = one core)"
        )
    )
    ratio = gateway_get.rps / baseline.rps if baseline.rps else math.nan
    lines += ["", f"gateway GET throughput / baseline GET throughput: {_num(ratio, '.3f')}", ""]
    p50 = gateway_get.percentile_ms(50)
    figures = [
        Figure("api", "gateway GET p50", p50, "ms", "<=", TARGET_P50_MS),
        Figure("api", "gateway GET throughput", gateway_get.rps, "req/s", ">=", TARGET_RPS),
        Figure(
            "api",
            "gateway GET throughput / bare app",
            ratio,
            "x",
            ">=",
            TARGET_RATIO,
        ),
    ]
    record(figures)
    lines.append("targets (gateway GET /api/v1/projects/{name}):")
    lines += targets_lines(figures)
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
    wrk: str | None  # wrk's path: the load generator; None: threads in this process
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = Child(name, argv, env, self.work / f"{name}.log")
        self.children.append(child)
        return child

    def stop_all(self) -> list[str]:
        """Stop in reverse start order (stack before its database); returns what was left."""
        return stop_children(self.children)

    def run(self) -> str:
        base_env = bench_env()
        mongo, mongo_url = start_database(self.start, self.work, base_env)
        stack, api = start_stack(
            self.start,
            self.work,
            base_env,
            mongo_url,
            {"CYCLONE_API_WORKERS": str(self.workers)},
        )

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
                GATEWAY_WORKER,  # the same server as the gateway's
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
            "gateway GET /api/v1/projects/{name}",
            api,
            f"/api/v1/projects/{PROJECT}",
            200,
            get_project,
            api_pid,
            auth,
        )
        gateway_post = Scenario(
            "gateway POST /api/v1/projects",
            api,
            "/api/v1/projects",
            201,
            post_project,
            api_pid,
            auth,
            lua=post_lua(201),
        )
        base_get = Scenario(
            "baseline GET /projects/{name}",
            baseline_url,
            f"/projects/{PROJECT}",
            200,
            get_baseline,
            baseline.proc.pid,
        )

        # wrk counts whole seconds
        seconds = self.seconds if self.wrk is None else max(1, math.ceil(self.seconds))
        results: dict[str, Result] = {}
        for scenario in (gateway_get, base_get, gateway_post):
            say(f"{scenario.name}: {WARMUP:g} + {seconds:g} s, {self.clients} clients")
            if self.wrk is None:
                result = run_python(scenario, mongo.proc.pid, self.clients, seconds)
            else:
                result = run_wrk(
                    self.wrk,
                    scenario,
                    mongo.proc.pid,
                    self.clients,
                    int(seconds),
                    self.work,
                    f"b{run_id}",
                )
            results[scenario.name] = result
            stack.check()
            baseline.check()
        if self.wrk is None:
            load = "python"
            generator = (
                f"load generator: python, {self.clients} threads in the benchmark process, "
                "one keep-alive httpx.Client each"
            )
        else:
            load = "wrk"
            generator = (
                f"load generator: {wrk_version(self.wrk)}, -t{wrk_threads(self.clients)} "
                f"-c{self.clients} (keep-alive connections)"
            )
        setup = (
            f"{generator}\n{WARMUP:g} s warm-up (discarded) + {seconds:g} s per scenario; "
            f"gunicorn ASGI workers: {self.workers} each; "
            f"CPUs: {os.cpu_count()}, shared by servers and load generator"
        )
        return report(
            list(results.values()), results[gateway_get.name], results[base_get.name], setup, load
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (connections)")
    parser.add_argument(
        "--load",
        choices=LOADS,
        default="auto",
        help="load generator: wrk, python (threads in this process) or auto (default: wrk "
        "when it is on PATH, else python)",
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.clients < 1:
        parser.error("--seconds must be > 0 and --clients >= 1")
    wrk = shutil.which("wrk") if args.load != "python" else None
    if args.load == "wrk" and wrk is None:
        parser.error("--load wrk: no wrk on PATH (apt-get install wrk)")
    if args.load == "auto" and wrk is None:
        say("no wrk on PATH (apt-get install wrk): the load comes from python threads")
    try:
        workers = int(os.environ.get("CYCLONE_API_WORKERS") or 1)
    except ValueError:
        parser.error("CYCLONE_API_WORKERS must be an integer")

    interrupt_on_sigterm()  # a `kill` stops the children like a Ctrl-C
    work = Path(tempfile.mkdtemp(prefix="cyclone-bench-"))
    bench = Bench(args.clients, args.seconds, workers, work, wrk)
    return run_and_report(work, bench.run, bench.stop_all)


if __name__ == "__main__":
    sys.exit(main())
