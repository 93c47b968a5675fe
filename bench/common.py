"""What the benchmarks share: child processes they start and stop, their own secantusdb and
Cyclone stack, a private RabbitMQ vhost, the API token, percentiles, and the run-then-report
frame of their `main` (progress on stderr, the report on stdout, logs kept after a failure).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from shared import brokers, config
from tools import rabbit_cluster
from tools.stack import MONGO_FLAGS, free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-" + "x" * 26  # fixed: the stack is private to this run
HEALTH_TIMEOUT = 90.0
REQUEST_TIMEOUT = 10.0


class SetupError(Exception):
    """Something the benchmark needs did not start; the report cannot be made."""


def say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --- child processes ------------------------------------------------------------------------


def child_setup() -> None:
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


def descendant_pids(root: int) -> list[int]:
    """The pids of the live processes below `root`, sorted; empty without /proc."""
    return sorted(pid for pid, _ in _descendants(root))


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


def cmdline(pid: int) -> list[str]:
    """The command line of a live process, word by word; empty when it is gone."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []
    return [a.decode(errors="replace") for a in argv if a]


def module_args(words: list[str]) -> list[str] | None:
    """What follows `-m` on a Python command line (the module and its arguments), if any."""
    return words[words.index("-m") + 1 :] if "-m" in words else None


def broker_pids(port: int = 5672) -> list[int]:
    """The Erlang VM (beam.smp) of the local RabbitMQ listening on `port`, when it runs on
    this machine: its CPU is part of what a record costs here, though no process of the stack
    spends it. Other brokers (the test cluster's nodes) are not it."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # LISTEN
                    listening.add(f"socket:[{fields[9]}]")
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (entry / "comm").read_text().strip() != "beam.smp":
                continue
            if any(os.readlink(fd) in listening for fd in (entry / "fd").iterdir()):
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def cpu_by_process(
    roots: list[int], alone: list[int] | None = None
) -> dict[int, tuple[str, float, float]]:
    """pid -> (name, own CPU seconds, CPU seconds of its reaped children) for `roots` and every
    live process below them (a worker that has ended shows in its parent's second figure), and
    for the processes `alone` without theirs (the broker's VM)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[str, float, float]] = {}
    pids = {*roots, *(p for root in roots for p, _ in _descendants(root)), *(alone or [])}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        words = cmdline(pid)
        module = module_args(words)
        name = " ".join(module[:3] if module is not None else words[:2])
        if words and words[0].endswith("beam.smp"):
            name = "rabbitmq on :5672 (beam.smp, all its vhosts)"
        own = (int(fields[11]) + int(fields[12])) / tick
        children = (int(fields[13]) + int(fields[14])) / tick
        found[pid] = (name[:48], own, children)
    return found


def cpu_spent(
    before: dict[int, tuple[str, float, float]], after: dict[int, tuple[str, float, float]]
) -> list[tuple[str, float, float]]:
    """(name, own, reaped children) CPU seconds spent between two `cpu_by_process` snapshots,
    per process alive at both (the services, the gateway, the database), largest first."""
    spent = [
        (name, own - before[pid][1], kids - before[pid][2])
        for pid, (name, own, kids) in after.items()
        if pid in before and before[pid][0] == name
    ]
    return sorted(spent, key=lambda row: -(row[1] + row[2]))


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
                preexec_fn=child_setup,
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


def stop_children(children: list[Child]) -> list[str]:
    """Stop in reverse start order (stack before its database); returns what was left."""
    left: list[str] = []
    for child in reversed(children):
        # The launcher stops its children on SIGINT (like Ctrl-C on `make run`) and waits
        # up to 15 s for them; gunicorn and secantusdb stop on SIGTERM.
        sig, timeout = (signal.SIGINT, 40.0) if child.name == "stack" else (signal.SIGTERM, 20.0)
        killed = child.stop(sig, timeout)
        if killed:
            left.append(f"{child.name}: killed {killed} that did not stop in time")
    children.clear()
    return left


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


# --- the database and the stack -------------------------------------------------------------

Starter = Callable[[str, list[str], dict[str, str]], Child]  # (name, argv, env) -> started


def bench_env() -> dict[str, str]:
    """This process's environment for the children: the repository on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return env


# As the launcher runs it (tools/stack.py start_mongo): a write is acknowledged once its journal
# is on disk, the durability every figure of make run pays for. CYCLONE_BENCH_SYNC=off measures
# without (an A/B of what the fsyncs cost; the benches ran so until December 7).
BENCH_DURABILITY = () if os.environ.get("CYCLONE_BENCH_SYNC") == "off" else ("--sync-on-commit",)


def start_database(start: Starter, work: Path, env: dict[str, str]) -> tuple[Child, str]:
    """secantusdb on a free port, its storage in `work`/mongo; (its child, its Mongo URL)."""
    mongo_port = free_port()
    mongo = start(
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
            str(work / "mongo"),
            "--log-level",
            "WARNING",
            *MONGO_FLAGS,
            *BENCH_DURABILITY,
        ],
        env,
    )
    wait_until("secantusdb", mongo, lambda: port_open(mongo_port), 60)
    return mongo, f"mongodb://127.0.0.1:{mongo_port}/cyclone?retryWrites=false"


def start_stack(
    start: Starter, work: Path, env: dict[str, str], mongo_url: str, extra: dict[str, str]
) -> tuple[Child, str]:
    """`python -m tools.stack` on `mongo_url`, on a free port, data in `work`/data, the fixed
    TOKEN, no access log, plus the `extra` variables; waits for GET /healthz. (child, URL)."""
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    stack = start(
        "stack",
        [sys.executable, "-m", "tools.stack"],
        {
            **env,
            "CYCLONE_DATA_DIR": str(work / "data"),
            "CYCLONE_PORT": str(api_port),
            "CYCLONE_API_TOKEN": TOKEN,
            "CYCLONE_ACCESS_LOG": "off",
            "CYCLONE_SCM_VERIFY": "off",  # bench projects name an SCM that does not exist
            **extra,
            "CYCLONE_MONGO_URL": mongo_url,
        },
    )
    wait_until("the stack (GET /healthz)", stack, answers(f"{api}/healthz", 200), HEALTH_TIMEOUT)
    say(f"stack healthy on {api}")
    return stack, api


# --- a private RabbitMQ vhost ---------------------------------------------------------------


def vhost_uri(vhost: str) -> str:
    """CYCLONE_AMQP_URI (default: the launcher's) with its vhost replaced by `vhost`."""
    parts = urlsplit(os.environ.get("CYCLONE_AMQP_URI") or config.DEFAULT_AMQP_URI)
    return urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))


def delete_vhost(uri: str) -> str | None:
    """`rabbitmqctl delete_vhost` of the vhost in `uri`; a problem to report, or None."""
    if len(brokers.nodes(uri)) > 1:  # the test cluster (bench.chaos --broker-cluster)
        try:
            rabbit_cluster.delete_vhost(brokers.vhost_of(uri))
        except (rabbit_cluster.ClusterError, OSError, subprocess.SubprocessError) as exc:
            return f"deleting the cluster's vhost: {exc}"
        return None
    parts = urlsplit(uri)
    vhost = unquote(parts.path[1:])
    ctl = shutil.which("rabbitmqctl")
    if parts.hostname not in ("127.0.0.1", "localhost", "::1") or ctl is None:
        return f"cannot delete RabbitMQ vhost {vhost!r} here (no local rabbitmqctl): delete it"
    try:
        done = subprocess.run(
            [ctl, "delete_vhost", vhost], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"rabbitmqctl delete_vhost {vhost}: {exc}"
    out = (done.stdout + done.stderr).strip()
    if done.returncode == 0:
        say(f"deleted RabbitMQ vhost {vhost!r}")
    elif "does not exist" not in out:  # none made (the stack did not get that far): fine
        return f"rabbitmqctl delete_vhost {vhost}: {out}"
    return None


# --- one benchmark's processes --------------------------------------------------------------


def settle(pid: int, what: str, busy: float = 0.1, every: float = 2.0, limit: float = 180) -> float:
    """Wait until `pid` (and its children) use less than `busy` of a CPU over `every`
    seconds, at most `limit` seconds: timing a database still writing what was just loaded
    measures its catching up. The seconds waited."""
    started = time.monotonic()
    before = cpu_seconds(pid)
    while time.monotonic() - started < limit:
        time.sleep(every)
        now = cpu_seconds(pid)
        if (now - before) / every < busy:
            break
        before = now
    waited = time.monotonic() - started
    say(f"{what} settled after {waited:.0f}s")
    return waited


@dataclass
class Lab:
    """The processes of one benchmark run (secantusdb, then the stack) on a private vhost."""

    work: Path
    vhost: str
    children: list[Child] = field(default_factory=list)
    data_dir: Path = field(init=False)
    amqp_uri: str = field(init=False)
    mongo_url: str = ""
    api: str = ""

    def __post_init__(self) -> None:
        self.data_dir = self.work / "data"
        self.amqp_uri = vhost_uri(self.vhost)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = Child(name, argv, env, self.work / f"{name}.log")
        self.children.append(child)
        return child

    def start_stack(self, extra: dict[str, str]) -> None:
        """secantusdb and the stack on the private vhost (the launcher creates it)."""
        env = bench_env()
        _, self.mongo_url = start_database(self.start, self.work, env)
        say(f"RabbitMQ vhost {self.vhost!r}: {self.amqp_uri}")
        _, self.api = start_stack(
            self.start, self.work, env, self.mongo_url, {"CYCLONE_AMQP_URI": self.amqp_uri, **extra}
        )
        for child in self.children:  # the stack's services: checked again after stop
            child.remember_tree()

    def stop_all(self) -> list[str]:
        left = stop_children(self.children)
        problem = delete_vhost(self.amqp_uri)
        if problem:
            left.append(problem)
        return left


# --- HTTP -----------------------------------------------------------------------------------


def client(api: str) -> httpx.Client:
    """A keep-alive client of the stack's API with the bench's token."""
    return httpx.Client(
        base_url=api, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=REQUEST_TIMEOUT
    )


def create(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST `body` for setup; its answer, or SetupError unless 201."""
    try:
        resp = api.post(path, json=body)
    except httpx.HTTPError as exc:
        raise SetupError(f"POST {path}: {type(exc).__name__}: {exc}") from exc
    if resp.status_code != 201:
        raise SetupError(f"POST {path}: HTTP {resp.status_code} {resp.text[:500]}")
    return resp.json()


# --- figures and the frame of main ----------------------------------------------------------


def nearest_rank(values: list[float], q: float) -> float:
    """The nearest-rank percentile `q` (0-100] of `values`; NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def fmt(value: float, spec: str = ".1f") -> str:
    return "-" if math.isnan(value) else format(value, spec)


def interrupt_on_sigterm() -> None:
    """A `kill` of the benchmark stops its children like a Ctrl-C."""

    def interrupted(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)


def run_and_report(work: Path, run: Callable[[], str], stop_all: Callable[[], list[str]]) -> int:
    """run() then stop_all() whatever happened; prints run()'s report.

    0 once the report is printed, 2 when the setup failed, 130 when interrupted. The temp dir
    `work` (the logs) is removed after a good run and kept after a failure.
    """
    text: str | None = None
    failure = 2
    try:
        text = run()
    except SetupError as exc:
        say(f"setup failed: {exc}")
    except KeyboardInterrupt:
        say("interrupted")
        failure = 130
    finally:
        say("stopping")
        left = stop_all()
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
