"""The web UI in a real browser (chromium through Playwright) against the real stack."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support import StackProcess
from tests.ui.conftest import Catalog, project_body, sign_in
from tests.waiting import wait_for


def gated(drop, marker: str) -> str:
    """A command that prints `marker`, then waits (at most 90 s) for the test to let it go."""
    return (
        f"echo {marker}; i=0; while [ ! -f {drop}/go ] && [ $i -lt 900 ]; do sleep 0.1; "
        "i=$((i+1)); done; echo released"
    )


def mark(page: Page, name: str) -> dict:
    """A performance mark the page set (ms from the navigation's start), once it is there."""

    def found() -> dict | None:
        return page.evaluate(
            "n => { const m = performance.getEntriesByName(n)[0];"
            " return m ? {at: m.startTime, detail: m.detail} : null; }",
            name,
        )

    return wait_for(found, 30, f"performance mark {name}", every=0.05)


def test_login_logout_and_back_to_the_page_asked_for(page: Page, stack: StackProcess):
    page.goto(stack.url + "/ui/clouds")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Fclouds$"))
    expect(page).to_have_title("Sign in — Cyclone")
    token = page.get_by_label("API token")
    expect(token).to_have_attribute("type", "password")
    token.fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#token-error")).to_contain_text("not valid")
    page.get_by_label("API token").fill(stack.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(stack.url + "/ui/clouds")
    expect(page).to_have_title("Clouds — Cyclone")
    assert stack.token not in page.url
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(stack.url + "/ui/login")
    page.goto(stack.url + "/ui/")
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))


def test_project_and_pipeline_from_template_then_a_live_log(
    signed_in: Page, stack: StackProcess, api: httpx.Client, git_repo, drop, unique: str
):
    page = signed_in
    page.locator("#new-project").click()
    dialog = page.get_by_role("dialog", name="New project")
    dialog.get_by_label("Name", exact=True).fill(unique)
    dialog.get_by_label("Server", exact=True).fill("https://scm.example.com")
    dialog.get_by_label("Access token").fill("scm-token")
    dialog.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(f"{stack.url}/ui/projects/{unique}")
    expect(page).to_have_title(f"{unique} · Projects — Cyclone")

    page.locator("#new-pipeline").click()
    dialog = page.get_by_role("dialog", name="New pipeline")
    dialog.get_by_label("Template").select_option("Go")
    expect(dialog.get_by_label("Builder image")).to_have_value("golang:1.23-alpine")
    expect(dialog.get_by_label("Test commands (one per line)")).to_have_value(re.compile("go test"))
    dialog.get_by_label("Name", exact=True).fill("web")
    dialog.get_by_label("Repository type").select_option("other")
    dialog.get_by_label("Repository URL").fill(git_repo.url)
    dialog.get_by_label("Test commands (one per line)").fill(gated(drop, "ui-live-marker"))
    dialog.get_by_label("Package commands (one per line)").fill("")
    dialog.get_by_label("Package outputs (one per line)").fill("")
    dialog.get_by_role("button", name="Create pipeline").click()
    expect(page).to_have_url(f"{stack.url}/ui/projects/{unique}/pipelines/web")
    stored = api.get(f"/api/v1/projects/{unique}/pipelines/web").json()
    assert stored["build"]["builderImage"]["image"] == "golang:1.23-alpine"

    page.get_by_role("button", name="▶ Run").click()
    page.get_by_role("dialog").get_by_role("button", name="Run", exact=True).click()
    expect(page).to_have_url(
        re.compile(rf"/ui/projects/{unique}/pipelines/web/records/[0-9a-f]{{24}}$")
    )
    record_id = page.url.rsplit("/", 1)[1]
    log = page.locator("#log")
    expect(log).to_contain_text("ui-live-marker", timeout=60000)
    # seen while the run still goes on: the line came live, not with the finished log
    record = api.get(f"/api/v1/projects/{unique}/pipelines/web/records/{record_id}").json()
    assert record["status"] == "Running", record["status"]
    expect(page.locator("#record-status")).to_contain_text("Running")
    (drop / "go").write_text("")
    expect(page.locator("#record-status")).to_contain_text("Success", timeout=60000)
    expect(log).to_contain_text("released")  # following the end
    expect(page).to_have_title(re.compile(r"^Success · "))
    assert not page.js_errors  # type: ignore[attr-defined]


def test_abort_a_running_record(signed_in: Page, stack: StackProcess, catalog: Catalog, git_repo):
    page = signed_in
    catalog.pipeline("slow", git_repo.url, ["echo abort-me", "sleep 300"])
    record_id = catalog.start("slow")
    page.goto(stack.url + catalog.page("slow", record_id))
    expect(page.locator("#log")).to_contain_text("abort-me", timeout=60000)
    page.get_by_role("button", name="■ Abort").click()
    page.get_by_role("dialog").get_by_role("button", name="Abort run").click()
    expect(page.locator("#record-status")).to_contain_text("Aborted", timeout=30000)
    assert catalog.wait("slow", record_id)["status"] == "Aborted"
    expect(page.get_by_role("button", name="■ Abort")).to_have_count(0)


def test_a_bad_value_shows_the_apis_message_at_its_field(
    signed_in: Page, api: httpx.Client, unique: str
):
    page = signed_in
    bad = "Not A Name!"
    expected = api.post("/api/v1/projects", json={**project_body(unique), "name": bad}).json()
    assert expected["details"][0]["field"] == "name"
    page.locator("#new-project").click()
    dialog = page.get_by_role("dialog", name="New project")
    name = dialog.get_by_label("Name", exact=True)
    name.fill(bad)
    dialog.get_by_label("Access token").fill("t")
    dialog.get_by_role("button", name="Create project").click()
    expect(name).to_have_attribute("aria-invalid", "true")
    error_id = name.get_attribute("aria-describedby").split()[-1]
    expect(page.locator(f"#{error_id}")).to_have_text(expected["details"][0]["error"])
    expect(name).to_be_focused()
    # a bad server is placed at the server's field
    name.fill(unique)
    dialog.get_by_label("Server", exact=True).fill("")
    dialog.get_by_role("button", name="Create project").click()
    expect(dialog.get_by_label("Server", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(name).not_to_have_attribute("aria-invalid", "true")


def test_the_stats_chart_of_a_project_with_runs(
    signed_in: Page, stack: StackProcess, catalog: Catalog, git_repo
):
    page = signed_in
    catalog.pipeline("good", git_repo.url, ["echo fine"])
    catalog.pipeline("bad", git_repo.url, ["exit 3"])
    assert catalog.wait("good", catalog.start("good"))["status"] == "Success"
    assert catalog.wait("bad", catalog.start("bad"))["status"] == "Failed"
    page.goto(f"{stack.url}/ui/projects/{catalog.project}")
    chart = page.locator(".chart svg")
    expect(chart).to_have_attribute(
        "aria-label", re.compile(r"2 runs in 30 days, 1 succeeded, 1 failed")
    )
    expect(chart.locator("rect.b-success")).to_have_count(1)
    expect(chart.locator("rect.b-failed")).to_have_count(1)
    box = chart.locator("rect.b-success").bounding_box()
    assert box and box["height"] > 10 and box["width"] > 2
    # the pipelines list shows each last run
    expect(page.locator("#pipelines")).to_contain_text("Success")
    expect(page.locator("#pipelines")).to_contain_text("Failed")


@pytest.mark.timeout(240)  # longer than its waits (110 s for the record, 60 s for the log)
def test_a_hundred_thousand_line_log(
    signed_in: Page, stack: StackProcess, catalog: Catalog, git_repo
):
    page = signed_in
    catalog.pipeline("big", git_repo.url, ["seq 1 100000"])
    record_id = catalog.start("big")
    assert catalog.wait("big", record_id, timeout=110)["status"] == "Success"
    url = f"{stack.url}{catalog.page('big', record_id)}"

    def stored() -> bool:
        tail = catalog.api.get(f"{catalog.records('big')}/{record_id}/logs").text
        return tail.rstrip().endswith("Stage: Package status: finish")

    wait_for(stored, 60, "the whole log stored", every=0.5)
    page.goto(url)
    first = mark(page, "cyclone:first-line")
    assert first["at"] < 1000, f"first lines after {first['at']:.0f} ms"
    expect(page.locator('.ln[data-n="1"]')).to_be_visible()
    done = mark(page, "cyclone:log-complete")
    assert done["detail"]["lines"] >= 100000
    # only what is on screen is drawn
    assert page.locator(".ln").count() < 200
    # a line's link opens the page scrolled there, highlighted
    page.goto("about:blank")
    page.goto(url + "#L99999")
    target = page.locator('.ln[data-n="99999"]')
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile(r"\btarget\b"))
    # the whole log is searched, not just the drawn rows
    page.get_by_label("Search the log").fill("100000")
    expect(page.locator("#log-search-count")).to_have_text("1 of 2")  # `$ seq 1 100000` too
    current = page.locator(".ln:has(mark.current) .tx")
    expect(current).to_have_text("$ seq 1 100000")
    page.get_by_label("Search the log").press("Enter")
    expect(current).to_have_text("100000")
    expect(current).to_be_in_viewport()


def test_the_record_page_at_phone_width(
    phone: Page, stack: StackProcess, catalog: Catalog, git_repo
):
    catalog.pipeline("small", git_repo.url, ["echo a-rather-long-line-" + "x" * 200])
    record_id = catalog.start("small")
    assert catalog.wait("small", record_id)["status"] == "Success"
    sign_in(phone, stack, catalog.page("small", record_id))
    expect(phone.locator("#record-status")).to_contain_text("Success")
    expect(phone.locator("#log")).to_contain_text("a-rather-long-line")
    expect(phone.locator("#stages")).to_contain_text("Package")
    # nothing wider than the screen: the long line scrolls inside the log only
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    expect(phone.get_by_role("button", name="Log out")).to_be_in_viewport()
    expect(phone.get_by_label("Search the log")).to_be_visible()
    log_box = phone.locator("#log").bounding_box()
    assert log_box and log_box["x"] >= 0 and log_box["x"] + log_box["width"] <= 390


def test_keyboard_alone_with_visible_focus(signed_in: Page, stack: StackProcess):
    page = signed_in
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    outline = skip.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline not in ("none", ""), outline
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.id || document.activeElement.textContent")
    assert focused in ("new-project", "project-search"), focused
