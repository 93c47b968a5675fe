"""Small helpers of the cloud tests: record ids, the stand-in worker."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Any

from tests.support import pid_alive
from tests.waiting import wait_for

STANDIN = Path(__file__).with_name("standin.py")
STANDIN_COMMAND = [sys.executable, str(STANDIN)]
SECRET_KEY = "test secret key of the cloud service"  # the service's CYCLONE_SECRET_KEY

__all__ = [
    "SECRET_KEY",
    "STANDIN_COMMAND",
    "new_record_id",
    "pid_alive",
    "plan",
    "release",
    "seen",
]


def new_record_id() -> str:
    return secrets.token_hex(12)


def plan(data_dir: Path, record_id: str, seconds: float, code: int = 0) -> None:
    """How long the stand-in for that record sleeps, and its exit code."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / f"{record_id}.plan").write_text(f"{seconds} {code}")


def release(data_dir: Path, record_id: str) -> None:
    """Let the stand-in of that record exit now (with its planned code)."""
    (data_dir / f"{record_id}.release").touch()


def seen(data_dir: Path, record_id: str, timeout: float = 10) -> dict[str, Any]:
    """What the stand-in noted about its start (waits until it has)."""
    path = data_dir / f"{record_id}.seen.json"
    wait_for(path.exists, timeout, f"the stand-in of {record_id}")
    return json.loads(path.read_text())
