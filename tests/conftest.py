"""Test policy: real parts only.

- tests/unit: pure domain code; no broker, no database; milliseconds each.
- tests/api: HTTP against one real stack per session (tools.stack, as `make run` starts it:
  real RabbitMQ in its own vhost, the embedded MongoDB-compatible server, every service).
- tests/stack: starting and stopping whole stacks, deploy files.
Nothing of ours is mocked. Every test has a timeout (pyproject), so a hang fails.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import BROKER, StackProcess


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


@pytest.fixture(scope="module")
def amqp_uri(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh vhost on the real broker per module (for tests that run services or clients
    without a whole stack), deleted afterwards."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        pytest.fail("rabbitmqctl is needed to make a test vhost")
    folder = Path(str(request.path)).parent.name
    vhost = f"cyclone-{folder}-test-{secrets.token_hex(4)}"
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
