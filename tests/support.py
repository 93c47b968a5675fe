"""Starting real Cyclone stacks for tests, the way `make run` does (python -m tools.stack)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tools.stack import free_port

ROOT = Path(__file__).resolve().parent.parent
BROKER = "amqp://guest:guest@127.0.0.1:5672"


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
            "CYCLONE_WS_PING_INTERVAL": "2",
            "CYCLONE_WS_PING_TIMEOUT": "60",
            # Test projects name SCM servers that do not exist (scm.example.com); the tests of
            # the credential check start stacks with it on (tests/scm).
            "CYCLONE_SCM_VERIFY": "off",
            **env,
        }
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-stack.log"

    @property
    def amqp_uri(self) -> str:
        return self.env["CYCLONE_AMQP_URI"]

    def start(self, wait: float = 90) -> StackProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.stack"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stack exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=3).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"stack not healthy in {wait}s:\n{self.log_path.read_text()[-3000:]}")

    def pids(self) -> dict[str, int]:
        return json.loads((self.data_dir / "pids.json").read_text())

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self, timeout: float = 30) -> int | None:
        code = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        if shutil.which("rabbitmqctl"):
            subprocess.run(
                ["rabbitmqctl", "delete_vhost", self.vhost], capture_output=True, check=False
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
