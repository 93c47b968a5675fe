"""Test policy: real parts only.

- tests/unit: pure domain code; no broker, no database; milliseconds each.
- tests/api: HTTP against one real stack per session (tools.stack, as `make run` starts it:
  real RabbitMQ in its own vhost, the embedded MongoDB-compatible server, every service).
- tests/stack: starting and stopping whole stacks, deploy files.
Nothing of ours is mocked. Every test has a timeout (pyproject), so a hang fails.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import StackProcess


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    proc = StackProcess(tmp_path_factory.mktemp("stack") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture
def api(stack: StackProcess) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


@pytest.fixture
def drop() -> Iterator[Path]:
    """A folder a Local build can write to and the test can read: builds run as the build
    user when the stack runs as root, and pytest's tmp tree (0700) is closed to it."""
    path = Path(tempfile.mkdtemp(prefix="cyclone-drop-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def unique() -> str:
    """A fresh, valid resource name per test."""
    return f"t{uuid.uuid4().hex[:10]}"
