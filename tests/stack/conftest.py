"""What the whole-stack fault tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.logs.conftest import MongoProcess


@pytest.fixture(scope="module")
def mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoProcess]:
    """A database this module can stop and start (a stack's own would take the stack down)."""
    proc = MongoProcess(tmp_path_factory.mktemp("stoppable-mongo"))
    proc.start()
    yield proc
    proc.stop()
