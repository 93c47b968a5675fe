"""`python -m bench.ui`: how fast the web UI's record page shows a log, in a real browser.

Starts its own secantusdb and Cyclone stack (`python -m tools.stack`) on a private RabbitMQ vhost,
as bench/runs.py does, makes a local git repository, a project and two pipelines, then drives
Debian's chromium (Playwright, headless) through the login page and:

a) a running record (its package stage prints a line, then sleeps): `--repeat` fresh
   navigations to its page; for each, the time from the navigation's start to the first log
   line drawn (`performance.mark('cyclone:first-line')`, set by the page's log viewer);
b) a finished record whose log is 100,000 lines (`seq 1 100000`): `--repeat` navigations;
   the time to the first line drawn and to the whole log loaded and drawn
   (`performance.mark('cyclone:log-complete')`).

Every figure comes from the browser's performance timeline (ms since navigationStart), so it
includes the HTML, the modules, the API calls and the drawing. Prints median and worst with
the targets (500 ms and 1 s). Exit status: 0 once the report is printed, 2 when the setup
failed, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from bench.common import (
    TOKEN,
    Lab,
    SetupError,
    client,
    create,
    interrupt_on_sigterm,
    run_and_report,
    say,
)
from tests.e2e.conftest import pipeline_body
from tests.repos import make_git_repo

PROJECT = "bench-ui"
SCM = {"type": "Github", "server": "https://scm.example.com", "token": "t"}
FINISHED = frozenset({"Success", "Failed", "Aborted"})
TARGET_FIRST_LINE_MS = 500.0
TARGET_BIG_LOG_MS = 1000.0
BIG = 100_000


def wait(what: str, check: object, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()  # type: ignore[operator]
        if got:
            return got
        time.sleep(0.2)
    raise SetupError(f"timed out waiting for {what}")


def record_url(api: str, pl: str, rid: str) -> str:
    return f"{api}/ui/projects/{PROJECT}/pipelines/{pl}/records/{rid}"


def marks(page: Page, names: list[str], timeout: float = 60) -> dict[str, float]:
    """The performance marks' times (ms from navigation start) once all are set."""
    script = "ns => ns.map(n => (performance.getEntriesByName(n)[0] || {}).startTime ?? null)"

    def found() -> dict[str, float] | None:
        got = page.evaluate(script, names)
        return dict(zip(names, got, strict=True)) if all(v is not None for v in got) else None

    return wait(f"marks {names}", found, timeout)  # type: ignore[return-value]


def measure(page: Page, url: str, names: list[str], repeat: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(repeat):
        page.goto("about:blank")
        page.goto(url)
        for name, value in marks(page, names).items():
            out[name].append(value)
    return out


def line(label: str, values: list[float], target: float | None) -> str:
    med, worst = statistics.median(values), max(values)
    verdict = ""
    if target is not None:
        verdict = f"   target {target:.0f} ms: {'PASS' if med <= target else 'FAIL'} (median)"
    return f"  {label:<48} median {med:7.0f} ms   worst {worst:7.0f} ms{verdict}"


def run(lab: Lab, repeat: int) -> str:
    lab.start_stack({})
    api = client(lab.api)
    repo = make_git_repo(lab.work / "git")
    create(api, "/api/v1/projects", {"name": PROJECT, "scm": SCM})
    records = f"/api/v1/projects/{PROJECT}/pipelines"
    create(api, records, pipeline_body("big", repo.url, package=[f"seq 1 {BIG}"]))
    live = ["echo first-live-line", "sleep 600"]
    create(api, records, pipeline_body("live", repo.url, package=live))
    big = create(api, f"{records}/big/records", {"ref": "main"})["id"]
    say(f"waiting for the {BIG:,}-line record {big}")
    wait("the big record to end", lambda: get(api, f"{records}/big/records/{big}") in FINISHED, 300)
    wait(
        "its whole log stored",
        lambda: api.get(f"{records}/big/records/{big}/logs").text.count("\n") >= BIG,
        120,
    )
    live = create(api, f"{records}/live/records", {"ref": "main"})["id"]
    wait(
        "the live record to print its first line",
        lambda: "first-live-line" in api.get(f"{records}/live/records/{live}/logs").text,
        120,
    )
    say("measuring in chromium")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                args=["--no-sandbox"],
            )
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(f"{lab.api}/ui/login")
            page.get_by_label("API token").fill(TOKEN)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{lab.api}/ui/")
            running = measure(
                page, record_url(lab.api, "live", live), ["cyclone:first-line"], repeat
            )
            if get(api, f"{records}/live/records/{live}") in FINISHED:
                raise SetupError("the live record ended while it was measured")
            finished = measure(
                page,
                record_url(lab.api, "big", big),
                ["cyclone:first-line", "cyclone:log-complete"],
                repeat,
            )
            lines = page.evaluate("document.querySelectorAll('.ln').length")
            browser.close()
    finally:
        api.patch(f"{records}/live/records/{live}/status", json={"status": "Aborted"})
    return "\n".join(
        [
            f"web UI record page, chromium headless, {repeat} navigations each "
            f"(ms from navigation start, browser performance timeline):",
            line(
                "running record: first log line drawn",
                running["cyclone:first-line"],
                TARGET_FIRST_LINE_MS,
            ),
            line(
                f"finished {BIG:,}-line log: first line drawn", finished["cyclone:first-line"], None
            ),
            line(
                f"finished {BIG:,}-line log: all loaded and drawn",
                finished["cyclone:log-complete"],
                TARGET_BIG_LOG_MS,
            ),
            f"  rows in the DOM for the {BIG:,}-line log: {lines} (only what is on screen)",
        ]
    )


def get(api: httpx.Client, path: str) -> str:
    resp = api.get(path)
    return resp.json().get("status", "") if resp.status_code == 200 else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ui", description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="navigations per measure")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    interrupt_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="cyclone-bench-ui-"))
    lab = Lab(work, f"cyclone-bench-ui-{os.getpid()}")
    return run_and_report(work, lambda: run(lab, args.repeat), lab.stop_all)


if __name__ == "__main__":
    sys.exit(main())
