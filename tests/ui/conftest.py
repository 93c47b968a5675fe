"""Web UI tests: a real browser (Debian's chromium, driven by Playwright) against the session's
real stack. A failing browser test leaves a screenshot of its page in its tmp_path."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.e2e.conftest import pipeline_body, project_body
from tests.support import StackProcess
from tests.waiting import wait_for

FINISHED = {"Success", "Failed", "Aborted"}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("Debian's chromium is needed for the UI tests: apt-get install chromium")
    return path


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Per module, not per session: Playwright's sync API keeps an asyncio loop running in
    the main thread while it lives, and the tests that call asyncio.run() (in any order after
    these) would find it."""
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Playwright's own browser builds cannot be downloaded here: Debian's chromium it is.
    b = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
    yield b
    b.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Keep each phase's report on the item: the page fixture looks at it when it ends."""
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def _new_page(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path, **ctx: Any):
    context = browser.new_context(**ctx)
    context.set_default_timeout(15000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors  # type: ignore[attr-defined]
    return context, page


def _finish(context: Any, page: Page, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        shot = tmp_path / "failure.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failing page: {shot}")
        except Exception as exc:  # noqa: BLE001 - the test's own failure matters more
            print(f"no screenshot: {exc}")
    context.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    context, pg = _new_page(browser, request, tmp_path, viewport=DESKTOP)
    yield pg
    _finish(context, pg, request, tmp_path)


@pytest.fixture
def phone(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    context, pg = _new_page(
        browser, request, tmp_path, viewport=PHONE, is_mobile=True, has_touch=True
    )
    yield pg
    _finish(context, pg, request, tmp_path)


def sign_in(page: Page, stack: StackProcess, target: str = "/ui/") -> None:
    page.goto(stack.url + "/ui/login?next=" + target)
    page.get_by_label("API token").fill(stack.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(stack.url + target.split("#")[0]) + ".*"))


@pytest.fixture
def signed_in(page: Page, stack: StackProcess) -> Page:
    sign_in(page, stack)
    return page


# --- API helpers: set up what a test is not about ------------------------------------------


class Catalog:
    """A project of this test's own, made through the API."""

    def __init__(self, api: httpx.Client, project: str) -> None:
        self.api = api
        self.project = project
        resp = api.post("/api/v1/projects", json=project_body(project))
        assert resp.status_code == 201, resp.text

    def pipeline(self, name: str, url: str, package: list[str]) -> str:
        resp = self.api.post(
            f"/api/v1/projects/{self.project}/pipelines",
            json=pipeline_body(name, url, package=package),
        )
        assert resp.status_code == 201, resp.text
        return name

    def records(self, pipeline: str) -> str:
        return f"/api/v1/projects/{self.project}/pipelines/{pipeline}/records"

    def start(self, pipeline: str) -> str:
        resp = self.api.post(self.records(pipeline), json={"ref": "main"})
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    def record(self, pipeline: str, record: str) -> dict[str, Any]:
        resp = self.api.get(f"{self.records(pipeline)}/{record}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait(self, pipeline: str, record: str, timeout: float = 90) -> dict[str, Any]:
        def ended() -> dict[str, Any]:
            got = self.record(pipeline, record)
            assert got["status"] in FINISHED, got["status"]
            return got

        return wait_for(ended, timeout, f"record {record} to end", every=0.2)

    def page(self, pipeline: str, record: str = "") -> str:
        base = f"/ui/projects/{self.project}/pipelines/{pipeline}"
        return base + (f"/records/{record}" if record else "")


@pytest.fixture
def catalog(api: httpx.Client, unique: str) -> Catalog:
    return Catalog(api, unique)
