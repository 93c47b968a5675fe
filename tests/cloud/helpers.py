"""Small helpers of the cloud tests: record ids, waiting, the stand-in worker."""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.support import pid_alive

STANDIN = Path(__file__).with_name("standin.py")
STANDIN_COMMAND = [sys.executable, str(STANDIN)]
SECRET_KEY = "test secret key of the cloud service"  # the service's CYCLONE_SECRET_KEY
T = TypeVar("T")

__all__ = [
    "SECRET_KEY",
    "STANDIN_COMMAND",
    "new_record_id",
    "pid_alive",
    "plan",
    "seen",
    "wait_until",
]


def new_record_id() -> str:
    return secrets.token_hex(12)


def wait_until(check: Callable[[], T], timeout: float, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def plan(data_dir: Path, record_id: str, seconds: float, code: int = 0) -> None:
    """How long the stand-in for that record sleeps, and its exit code."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / f"{record_id}.plan").write_text(f"{seconds} {code}")


def seen(data_dir: Path, record_id: str, timeout: float = 10) -> dict[str, Any]:
    """What the stand-in noted about its start (waits until it has)."""
    path = data_dir / f"{record_id}.seen.json"
    wait_until(path.exists, timeout, f"the stand-in of {record_id}")
    return json.loads(path.read_text())
