"""`make run`: the whole Cyclone stack in the foreground; Ctrl-C stops all of it.

Starts the embedded MongoDB-compatible server (unless CYCLONE_MONGO_URL is set), makes sure
the broker and its vhost answer, generates the API token and the secret key into the data
dir when they are not given, then runs the services and the gateway as child processes
(the services in one, `python -m services`, unless CYCLONE_ONE_PROCESS=off or they have
replicas), restarting any that crashes. The children's pids are written to
`$CYCLONE_DATA_DIR/pids.json`, one per service (fault tests use it to kill or restart one).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from shared import brokers, config, logsetup
from shared.contracts import services
from shared.envvars import Env
from tools import probes

ROOT = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1


log = logging.getLogger("cyclone.launcher")


def say(msg: str) -> None:
    log.info(msg)


def random_token(nbytes: int) -> str:
    """`secrets.token_urlsafe`, without `secrets`: it brings `random` and OpenSSL's hashlib
    into the launcher's memory for good (about 4 MB; bench/memory.py)."""
    return base64.urlsafe_b64encode(os.urandom(nbytes)).rstrip(b"=").decode()


def healthz_ok(port: int, timeout: float = 3.0) -> bool:
    """Whether the gateway on `port` answers /healthz with 200. A plain socket and the status
    line: urllib would keep http.client, email and ssl in the launcher's memory for the
    stack's whole life (about 6 MB of the idle stack; bench/memory.py)."""
    head = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            while b"\r\n" not in head and len(head) < 1024:
                got = sock.recv(1024)
                if not got:
                    break
                head += got
    except OSError:
        return False
    status = head.split(b"\r\n", 1)[0].split()
    return len(status) >= 2 and status[0].startswith(b"HTTP/1.") and status[1] == b"200"


def _die_with_parent() -> None:
    """Children get SIGTERM if the launcher dies, even by SIGKILL (Linux prctl)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgrp()  # our own group: Ctrl-C reaches the launcher, which stops children in order


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_or_create(path: Path, make: Callable[[], str]) -> tuple[str, bool]:
    """The value kept in `path`, made (0600 from its first byte) when missing; and whether it
    was made now."""
    if path.exists():
        return path.read_text().strip(), False
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value, True


# --- the broker -----------------------------------------------------------------------------


def _amqp_problem(uri: str) -> str | None:
    answer = probes.ask({"probe": "amqp", "uri": uri})
    return None if answer is None else str(answer)


def ensure_broker(uri: str) -> None:
    problem = _amqp_problem(uri)
    if problem is None:
        return
    # A cluster (several nodes, shared/brokers.py) is the operator's to prepare: the
    # rabbitmqctl here would act on this machine's own broker, not on that cluster.
    parts = urlsplit(brokers.nodes(uri)[0])
    vhost = brokers.vhost_of(uri)
    single = len(brokers.nodes(uri)) == 1
    local = single and parts.hostname in ("127.0.0.1", "localhost", "::1")
    ctl = shutil.which("rabbitmqctl")
    if local and ctl and ("vhost" in problem.lower() or "access" in problem.lower()):
        say(f"creating RabbitMQ vhost {vhost!r} with rabbitmqctl")
        user = unquote(parts.username or "guest")
        subprocess.run([ctl, "add_vhost", vhost], check=False, capture_output=True)
        subprocess.run(
            [ctl, "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
            check=False,
            capture_output=True,
        )
        problem = _amqp_problem(uri)
    if problem and local and os.geteuid() == 0 and not ctl and shutil.which("apt-get"):
        say("no RabbitMQ here: installing Debian's rabbitmq-server (running as root)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "rabbitmq-server"], check=True, env=env)
        ctl = shutil.which("rabbitmqctl")
    if problem and local and ctl and os.geteuid() == 0:
        say("starting rabbitmq-server")
        subprocess.run(["rabbitmq-server", "-detached"], check=False)
        subprocess.run([ctl, "await_startup", "--timeout", "60"], check=False)
        problem = _amqp_problem(uri)
        if problem and vhost != "/":
            return ensure_broker(uri)
    if problem:
        raise SystemExit(
            f"cannot reach RabbitMQ at {parts.hostname}:{parts.port or 5672} ({problem}).\n"
            "Install and start one, e.g. on Debian/Ubuntu:\n"
            "  sudo apt-get install -y rabbitmq-server && sudo rabbitmq-server -detached\n"
            "or with Docker:\n"
            "  docker run -d -p 5672:5672 rabbitmq:3\n"
            "then set CYCLONE_AMQP_URI (default amqp://guest:guest@127.0.0.1:5672/); a vhost in "
            "the URI must exist (rabbitmqctl add_vhost NAME)."
        )


# --- MongoDB --------------------------------------------------------------------------------


def _wait_port(host: str, port: int, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the embedded MongoDB server exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the embedded MongoDB server did not listen on {port} in {seconds}s")


MONGO_USER = "cyclone"
# How every Cyclone launch runs the embedded server (the stack, the tests' servers, benches).
# `--standalone`: no replica set is advertised, so the server writes no oplog entry (and
# pre-image) per changed document, which nothing here reads (no change streams, no
# transactions): half the CPU of an update of a record, a third of an insert (measured with
# 200 records-like documents and their indexes: 4.3 -> 2.2 ms, 3.0 -> 1.0 ms).
MONGO_FLAGS = ("--standalone",)


def _run_mongo(storage: Path, log_dir: Path, port: int, *flags: str) -> subprocess.Popen:
    log = open(log_dir / "mongo.log", "ab")  # noqa: SIM115 - lives as long as the child
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(storage),
            "--log-level",
            "WARNING",
            *MONGO_FLAGS,
            *flags,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    _wait_port("127.0.0.1", port, proc, 60)
    return proc


def _make_mongo_user(storage: Path, log_dir: Path, password: str) -> None:
    """The server's one user, made once per data dir: secantusdb takes users only while it
    runs without --auth (a few hundred ms, before any service or build exists). The user is
    on disk once created (--sync-on-commit), so that server is killed rather than shut down
    (an orderly stop after a write takes it two seconds)."""
    port = free_port()
    proc = _run_mongo(storage, log_dir, port, "--sync-on-commit")
    try:
        url = f"mongodb://127.0.0.1:{port}/"
        probes.ask({"probe": "mongo-user", "url": url, "user": MONGO_USER, "password": password})
    finally:
        proc.kill()
        proc.wait(30)
    (storage / ".cyclone-user").write_text(MONGO_USER + "\n")


def start_mongo(data_dir: Path, log_dir: Path) -> tuple[subprocess.Popen, str]:
    """The embedded server with authentication on: a build on the Local cloud can reach its
    port on loopback, but not without the password kept in the data dir (0600)."""
    storage = data_dir / "mongo"
    storage.mkdir(parents=True, exist_ok=True)
    password, _ = read_or_create(data_dir / "mongo-password", lambda: random_token(24))
    if not (storage / ".cyclone-user").exists():
        _make_mongo_user(storage, log_dir, password)
    port = free_port()
    # --sync-on-commit: its journal is on disk before a write is acknowledged (the j:true
    # every service asks for), so a killed server loses nothing it acknowledged (without it,
    # a kill -9 lost the last ~20 of 300 inserts; it costs ~1/3 of single-insert speed).
    proc = _run_mongo(storage, log_dir, port, "--auth", "--sync-on-commit")
    url = f"mongodb://{MONGO_USER}:{password}@127.0.0.1:{port}/cyclone?authSource=admin"
    return proc, url


# --- the stack ------------------------------------------------------------------------------


def replica_names(counts: dict[str, int]) -> dict[str, tuple[str, int]]:
    """Child name -> (service, replica number): the first replica keeps the service's name
    (pids.json, the logs), the others are `<service>-<n>`."""
    return {
        (service if n == 1 else f"{service}-{n}"): (service, n)
        for service, count in counts.items()
        for n in range(1, count + 1)
    }


@dataclass(frozen=True)
class Child:
    """A process of the stack: `python -m <module> <args>`, as replica `replica`, serving
    `members` (pids.json names each of them with its pid)."""

    module: str
    replica: int
    members: tuple[str, ...]
    args: tuple[str, ...] = ()


TOGETHER = "services"  # the child running several services (python -m services)


def plan(counts: dict[str, int], together: bool) -> dict[str, Child]:
    """The children of the stack by name. With `together`, the services with one replica
    share one process; a service with several replicas runs one process per replica
    either way. The gateway is always a process tree of its own."""
    shared = [s for s, n in counts.items() if n == 1] if together else []
    children: dict[str, Child] = {}
    if len(shared) > 1:
        children[TOGETHER] = Child(TOGETHER, 1, tuple(shared), tuple(shared))
    else:
        shared = []
    for name, (service, replica) in replica_names(counts).items():
        if service not in shared:
            children[name] = Child(f"services.{service}", replica, (name,))
    children[services.API] = Child(f"services.{services.API}", 1, (services.API,))
    return children


class Stack:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: dict[str, subprocess.Popen] = {}
        # the gateway scales with CYCLONE_API_WORKERS inside its one process tree
        counts = config.replicas(env.get("CYCLONE_REPLICAS", ""), services.RESIDENT)
        self.plan = plan(counts, Env(env).flag("CYCLONE_ONE_PROCESS", True))
        self.mongo: subprocess.Popen | None = None
        self.stopping = False
        self.settings = config.load(env)

    def prepare(self) -> None:
        s = self.settings
        # Everything the stack makes (keys, database files, logs, workspaces) is private to
        # its user from the first byte; builds run as another user (docs/security.md).
        os.umask(0o077)
        s.data_dir.mkdir(parents=True, exist_ok=True)
        (s.data_dir / "logs").mkdir(exist_ok=True)
        env = self.env
        env["CYCLONE_DATA_DIR"] = str(s.data_dir)
        if not env.get("CYCLONE_API_TOKEN"):
            token_file = s.data_dir / "api-token"
            env["CYCLONE_API_TOKEN"], made = read_or_create(token_file, lambda: random_token(32))
            if made:  # shown once; afterwards only where it is kept
                say(f"API token (kept in {token_file}): {env['CYCLONE_API_TOKEN']}")
            else:
                say(f"API token: the one kept in {token_file}")
        if not env.get("CYCLONE_SECRET_KEY"):
            # made by SecretBox in a child: cryptography would stay in the launcher's memory
            env["CYCLONE_SECRET_KEY"], _ = read_or_create(
                s.data_dir / "secret-key", lambda: str(probes.ask({"probe": "secret-key"}))
            )
        # The broker check (a vhost to create takes rabbitmqctl a second or two) and the
        # database's start (its user made on a first start) wait on other processes: side
        # by side. A broker that cannot be had still stops the start, with its reason.
        with ThreadPoolExecutor(1) as pool:
            broker = pool.submit(ensure_broker, s.amqp_uri)
            if not env.get("CYCLONE_MONGO_URL"):
                self.mongo, env["CYCLONE_MONGO_URL"] = start_mongo(s.data_dir, s.data_dir / "logs")
                (s.data_dir / "mongo-url").write_text(env["CYCLONE_MONGO_URL"] + "\n")
                shown = env["CYCLONE_MONGO_URL"].split("@", 1)[-1]  # not the password
                say(f"embedded MongoDB (secantusdb) at {shown}")
            broker.result()
        # Every process writes its metrics here and the gateway's /metrics serves their sum
        # (shared/metrics.py); emptied at each start, as a new stack counts from zero.
        prom_dir = s.data_dir / "prometheus" / "stack"
        shutil.rmtree(prom_dir, ignore_errors=True)
        prom_dir.mkdir(parents=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)
        env.setdefault("PYTHONPATH", str(ROOT))
        env["PYTHONWARNINGS"] = env.get("PYTHONWARNINGS", "ignore::DeprecationWarning")
        self.settings = config.load(env)

    def spawn(self, name: str) -> None:
        child = self.plan[name]
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", child.module, *child.args],
            cwd=ROOT,
            env={**self.env, "CYCLONE_REPLICA": str(child.replica)},
            preexec_fn=_die_with_parent,
        )
        self._write_pids()

    def _write_pids(self) -> None:
        pids = {
            member: proc.pid
            for name, proc in self.children.items()
            for member in self.plan[name].members
        }
        if self.mongo:
            pids["mongo"] = self.mongo.pid
        # Atomically: readers (fault tests, operators) never see a half-written file.
        tmp = self.settings.data_dir / "pids.json.tmp"
        tmp.write_text(json.dumps(pids))
        os.replace(tmp, self.settings.data_dir / "pids.json")

    def wait_healthy(self, seconds: float = 60) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.stopping:
            if healthz_ok(self.settings.port):
                return True
            time.sleep(0.2)
        return False

    def supervise(self) -> None:
        """Restart a child that exits while the stack runs (after a short pause)."""
        while not self.stopping:
            for name, proc in list(self.children.items()):
                if proc.poll() is not None and not self.stopping:
                    say(f"{name} exited with {proc.returncode}; restarting")
                    time.sleep(0.5)
                    if not self.stopping:
                        self.spawn(name)
            if self.mongo and self.mongo.poll() is not None and not self.stopping:
                raise SystemExit("the embedded MongoDB server stopped; stopping the stack")
            time.sleep(0.2)

    def stop(self) -> None:
        """The services first, the database once they are gone: a service stopping lets its
        in-flight work finish, and with the database already gone that work waits for it
        (pymongo's 10 s server selection) before the service can exit."""
        self.stopping = True
        _terminate(list(self.children.values()), 15)
        if self.mongo:
            _terminate([self.mongo], 15)
        (self.settings.data_dir / "pids.json").unlink(missing_ok=True)
        if self.mongo:
            (self.settings.data_dir / "mongo-url").unlink(missing_ok=True)


def _terminate(procs: list[subprocess.Popen], grace: float) -> None:
    """SIGTERM to all, then SIGKILL to what is left after `grace` seconds."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    logsetup.configure("launcher", sys.stdout)
    stack = Stack(dict(os.environ))

    def on_signal(signum: int, _frame: object) -> None:
        stack.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.prepare()
        for name in stack.plan:
            stack.spawn(name)
        if stack.wait_healthy():
            say(f"Cyclone is up on http://127.0.0.1:{stack.settings.port} (Ctrl-C stops it)")
        elif not stack.stopping:
            say("the stack did not become healthy in 60s; see the output above")
        stack.supervise()
    finally:
        say("stopping")
        stack.stop()
        say("stopped")


if __name__ == "__main__":
    main()
