"""Starting the real parts tests use: whole Cyclone stacks, the way `make run` does (python -m
tools.stack), a RabbitMQ vhost of a test's own, a secantusdb server.

Each starter calls `needs` first: in a test marked `unit` (tests/conftest.py marks every test
that uses none of the fixtures for these parts), it fails at once instead of starting it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.waiting import NotYet, wait_for
from tools.stack import MONGO_FLAGS, free_port

ROOT = Path(__file__).resolve().parent.parent
BROKER = "amqp://guest:guest@127.0.0.1:5672"
# The gateway's processes in a test stack: two (the default is one), so that what spans them
# (live logs, health, the proxies' pools) is tested as a deployment that scales them has it.
API_WORKERS = 2

# The test being set up or run when it is marked `unit`, else None (tests/conftest.py sets it).
unit_test: str | None = None


def needs(part: str) -> None:
    """Fail a `unit` test that is about to start a real part: it is not a unit test."""
    if unit_test is not None:
        raise RuntimeError(
            f"{unit_test} is marked unit (no broker, no database) but starts {part}: use the "
            "fixture for it (tests/conftest.py then marks the test) or mark the test yourself"
        )


@contextlib.contextmanager
def broker_vhost(label: str) -> Iterator[str]:
    """A fresh vhost on the real broker (guest may do anything in it), deleted afterwards;
    its URI. The `amqp_uri` fixture is one per test module."""
    needs("a RabbitMQ vhost")
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        pytest.fail("rabbitmqctl is needed to make a test vhost")
    vhost = f"cyclone-{label}-test-{secrets.token_hex(4)}"
    subprocess.run([ctl, "-q", "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    try:
        subprocess.run(
            [ctl, "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield f"{BROKER}/{vhost}"
    finally:
        subprocess.run([ctl, "-q", "delete_vhost", vhost], check=False, capture_output=True)


def rabbitmqctl(*args: str) -> str:
    """`rabbitmqctl -q <args>` on the machine's broker: its output; raises when it fails."""
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


def queue_column(vhost: str, column: str) -> dict[str, str]:
    """{queue name: its `column`} for a vhost's queues (`rabbitmqctl list_queues`; "" when the
    column is empty, as a queue's policy is without one)."""
    listed = rabbitmqctl("list_queues", "-p", vhost, "name", column, "--no-table-headers")
    rows = (line.split("\t") for line in listed.splitlines() if line.strip())
    return {row[0]: row[1] if len(row) > 1 else "" for row in rows}


def _workspaces_dir() -> str:
    """A workspaces folder outside pytest's tree, removed when the test session ends (kept
    across a stack's restarts: adopted workers still use theirs)."""
    path = tempfile.mkdtemp(prefix="cyclone-ws-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


# vhost deletions and stacks stopping under way, reaped when the test session ends
_DELETING: list[subprocess.Popen] = []
_RETIRING: list[threading.Thread] = []


def _reap() -> None:
    for thread in _RETIRING:
        thread.join(60)
    for proc in _DELETING:
        proc.wait(60)


atexit.register(_reap)


class PortTaken(RuntimeError):
    """Another server answers on the port the stack was given."""


class StackProcess:
    """One stack: its own port, data dir and RabbitMQ vhost."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.vhost = f"cyclone-test-{secrets.token_hex(4)}"
        self.token = secrets.token_urlsafe(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CYCLONE_PORT": str(self.port),
            "CYCLONE_DATA_DIR": str(data_dir),
            "CYCLONE_AMQP_URI": f"{BROKER}/{self.vhost}",
            "CYCLONE_API_TOKEN": self.token,
            "CYCLONE_ACCESS_LOG": "off",
            "CYCLONE_API_WORKERS": str(API_WORKERS),
            "CYCLONE_WS_PING_INTERVAL": "2",
            "CYCLONE_WS_PING_TIMEOUT": "60",
            # Test projects name SCM servers that do not exist (scm.example.com); the tests of
            # the credential check start stacks with it on (tests/scm).
            "CYCLONE_SCM_VERIFY": "off",
            # The Local cloud's builds run as the build user when the stack runs as root: their
            # workspaces must be reachable by it, which pytest's 0700 tmp tree is not.
            "CYCLONE_WORKSPACES": _workspaces_dir(),
            # A process per service, so that fault tests can kill one (pids.json); the stacks
            # of tests/stack/test_one_process.py run them together, as `make run` does.
            "CYCLONE_ONE_PROCESS": "off",
            **env,
        }
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-stack.log"

    @property
    def amqp_uri(self) -> str:
        return self.env["CYCLONE_AMQP_URI"]

    def start(self, wait: float = 90, tries: int = 3) -> StackProcess:
        """Start the stack and wait until its gateway answers; healthy means *this* stack.

        The port comes from `free_port()`, which only knows it was free a moment ago: another
        server (another test session's stack) may take it before the gateway binds it, and
        then `/healthz` may well answer 200 from that server. So our token must be accepted
        too; when it is not, the stack starts again on another port.
        """
        for attempt in range(1, tries + 1):
            try:
                return self._start_once(wait)
            except PortTaken:
                self.stop()
                if attempt == tries:
                    raise
                self._new_port()
        raise AssertionError("unreachable")

    def _new_port(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env["CYCLONE_PORT"] = str(self.port)

    def _start_once(self, wait: float) -> StackProcess:
        needs("a whole stack")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = proc = subprocess.Popen(
                [sys.executable, "-m", "tools.stack"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def healthy() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"stack exited early:\n{self.log_path.read_text()[-3000:]}")
            token = self.env.get("CYCLONE_API_TOKEN") or self._generated_token()
            if not token:
                return False
            try:
                if httpx.get(self.url + "/healthz", timeout=3).status_code != 200:
                    return False
                ours = httpx.get(
                    self.url + "/api/v1/openapi.json",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=3,
                )
            except httpx.HTTPError:
                return False
            if ours.status_code == 401:
                raise PortTaken(f"another server answers on port {self.port}")
            return ours.status_code == 200

        def settled() -> bool:
            """Healthy in every gateway process: each keeps its own verdict for up to a second
            (a 503 from while the services were starting), and a request reaches any of them."""
            return all(healthy() for _ in range(4 * API_WORKERS))

        try:
            wait_for(healthy, wait, "the stack to be healthy", every=0.25)
            wait_for(settled, 10, "every gateway process to find the stack healthy", every=0.25)
        except NotYet:
            self.stop()
            tail = self.log_path.read_text()[-3000:]
            raise RuntimeError(f"stack not healthy in {wait}s:\n{tail}") from None
        return self

    def _generated_token(self) -> str:
        """The token a stack started without one made in its data dir ("" until it has)."""
        path = self.data_dir / "api-token"
        return path.read_text().strip() if path.exists() else ""

    def pids(self) -> dict[str, int]:
        return json.loads((self.data_dir / "pids.json").read_text())

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def retire(self) -> None:
        """Stop the stack without waiting for it: the next tests start meanwhile (a stack
        takes about 5 s to let its services finish and its database close). It has its own
        port, data dir and vhost, so nothing it does while stopping touches them; every
        retiring stack is waited for when the test session ends."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        thread = threading.Thread(target=self.stop, name=f"retire {self.vhost}", daemon=True)
        thread.start()
        _RETIRING.append(thread)

    def stop(self, timeout: float = 30) -> int | None:
        code = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        if shutil.which("rabbitmqctl"):  # not waited for (half a second per stack)
            _DELETING.append(
                subprocess.Popen(
                    ["rabbitmqctl", "-q", "delete_vhost", self.vhost],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        return code


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def worker_pid(record_id: str) -> int | None:
    """The process of the worker (`python -m services.worker`) running `record_id`, if any:
    a cold worker names the record on its command line; one forked by the fork server has
    the server's, and works in the record's workspace."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            if b"services.worker" not in cmd:
                continue
            if record_id.encode() in cmd:
                return int(entry.name)
            if b"--fork-server" in cmd and record_id in Path(os.readlink(entry / "cwd")).parts:
                return int(entry.name)
        except OSError:
            continue
    return None


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A child gets SIGTERM if pytest dies (a timeout kills it without teardown)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


class MongoProcess:
    """secantusdb on a fixed port and storage path, so it can be stopped and started again
    (the `mongo` fixture is one per test module)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.url = f"mongodb://127.0.0.1:{self.port}/cyclone?retryWrites=false"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        needs("a database server")
        with open(self.tmp / "mongo.log", "ab") as log:
            self.proc = proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "secantus", "--host", "127.0.0.1"),
                    *("--port", str(self.port), "--storage-path", str(self.tmp / "data")),
                    *("--log-level", "WARNING", *MONGO_FLAGS),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )

        def listening() -> bool:
            assert proc.poll() is None, (self.tmp / "mongo.log").read_text()[-2000:]
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return True
            return False

        wait_for(listening, 60, "secantusdb to listen")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
