"""SCM adapters against fakes of the GitHub and GitLab REST APIs; a stack of our own with the
credential check on (CYCLONE_SCM_VERIFY) and webhook registration on (CYCLONE_PUBLIC_URL)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.scm.fakes import FakeGitHub, FakeGitLab
from tests.support import StackProcess

PUBLIC_URL = "https://cyclone.example.com"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    yield fake
    fake.close()


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def scm_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    proc = StackProcess(
        tmp_path_factory.mktemp("scmstack") / "data",
        CYCLONE_SCM_VERIFY="on",
        CYCLONE_PUBLIC_URL=PUBLIC_URL + "/",
    ).start()
    yield proc
    proc.retire()


@pytest.fixture
def scm_api(scm_stack: StackProcess) -> Iterator[httpx.Client]:
    with scm_stack.client() as client:
        yield client
