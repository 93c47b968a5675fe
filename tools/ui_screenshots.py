"""`python -m tools.ui_screenshots`: the screenshots of docs/ui/, taken from a real stack.

Starts a throwaway stack (its own secantusdb and RabbitMQ vhost, as the benchmarks do: see
bench/common.py), fills it through the public API with a few projects, pipelines and runs on
the Local cloud (a local git repository), then signs in with Debian's chromium (Playwright,
headless) and saves every page at desktop (1280 px) and phone (390 px) width, light, plus a
few in dark. Nothing is drawn by hand: what the PNGs show is what the UI showed.

    .venv/bin/python -m tools.ui_screenshots [--out docs/ui]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, ViewportSize, sync_playwright

from bench.common import TOKEN, Lab, SetupError, client, create, run_and_report, say
from tests.repos import make_git_repo

FINISHED = frozenset({"Success", "Failed", "Aborted"})
SCM = {"type": "Github", "server": "https://github.com", "username": "shop-bot", "token": "t"}
COLOURED = (
    "printf '\\033[1mcollecting tests\\033[0m\\n"
    "test_cart.py \\033[32m....\\033[0m\\n"
    "test_orders.py \\033[32m......\\033[0m\\033[33ms\\033[0m\\n"
    "\\033[32m10 passed\\033[0m, \\033[33m1 skipped\\033[0m in 0.42s\\n'"
)


def pipeline(name: str, url: str, unit: list[str], package: list[str], desc: str = "") -> dict:
    stages: dict[str, Any] = {
        "codeCheckout": {
            "mainRepo": {"type": "other", "otherCodeSource": {"url": url, "ref": "main"}}
        },
        "unitTest": {"command": unit},
    }
    if package:
        stages["package"] = {"command": package, "outputs": ["bin/app"]}
    body: dict[str, Any] = {
        "name": name,
        "build": {"builderImage": {"image": "golang:1.23-alpine"}, "stages": stages},
    }
    if desc:
        body["description"] = desc
    return body


def wait_end(api: httpx.Client, path: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = api.get(path).json()
        if got.get("status") in FINISHED:
            return got
        time.sleep(0.3)
    raise SetupError(f"{path} did not end")


def seed(api: httpx.Client, work: Path) -> dict[str, str]:
    repo = make_git_repo(work / "git")
    create(api, "/api/v1/clouds", {"name": "host", "type": "Local"})
    create(
        api,
        "/api/v1/clouds",
        {"name": "docker-lab", "type": "Docker", "docker": {"host": "unix:///var/run/docker.sock"}},
    )
    create(
        api, "/api/v1/projects", {"name": "shop", "description": "Online shop services", "scm": SCM}
    )
    create(
        api,
        "/api/v1/projects",
        {
            "name": "infra",
            "description": "Terraform and base images",
            "scm": {**SCM, "type": "Gitlab", "server": "https://gitlab.com"},
        },
    )
    base = "/api/v1/projects/shop/pipelines"
    create(
        api,
        base,
        pipeline(
            "api",
            repo.url,
            [COLOURED],
            ["sh build.sh", "seq -f 'packaging file %g' 1 400"],
            "REST API: test and build",
        ),
    )
    create(
        api,
        base,
        pipeline(
            "frontend",
            repo.url,
            ["echo npm ci", "echo 'Error: 2 snapshots failed' >&2", "exit 1"],
            [],
            "Web frontend",
        ),
    )
    create(
        api,
        base,
        pipeline(
            "nightly",
            repo.url,
            [
                "echo running the long suite",
                "i=0; while [ $i -lt 900 ]; do echo step $i; i=$((i+1)); sleep 1; done",
            ],
            [],
            "Nightly end-to-end suite",
        ),
    )
    create(
        api,
        "/api/v1/projects/infra/pipelines",
        pipeline("images", repo.url, ["echo lint ok"], ["echo built"]),
    )
    ids: dict[str, str] = {}
    for pl, n in (("api", 4), ("frontend", 2), ("images", 1)):
        prefix = "/api/v1/projects/infra/pipelines" if pl == "images" else base
        for _ in range(n):
            rid = create(api, f"{prefix}/{pl}/records", {"ref": "main"})["id"]
            wait_end(api, f"{prefix}/{pl}/records/{rid}")
            ids[pl] = rid
    aborted = create(api, f"{base}/nightly/records", {"ref": "main"})["id"]
    time.sleep(2)
    api.patch(f"{base}/nightly/records/{aborted}/status", json={"status": "Aborted"})
    wait_end(api, f"{base}/nightly/records/{aborted}")
    ids["nightly"] = create(api, f"{base}/nightly/records", {"ref": "main"})["id"]
    time.sleep(6)  # a few live lines
    return ids


def shoot(page: Page, url: str, out: Path, settle: float = 1.2) -> None:
    page.goto(url)
    if "nightly" not in url:  # a live page never goes quiet
        page.wait_for_load_state("networkidle")
    time.sleep(settle)
    page.evaluate("scrollTo(0, 0)")  # a #L link scrolled the page to the log
    page.screenshot(path=str(out), full_page=True)
    say(f"saved {out}")


def run(lab: Lab, out: Path) -> str:
    lab.start_stack({})
    api = client(lab.api)
    ids = seed(api, lab.work)
    u = lab.api
    rec = lambda pl, p="shop": f"{u}/ui/projects/{p}/pipelines/{pl}/records/{ids[pl]}"  # noqa: E731
    pages = {
        "projects": f"{u}/ui/",
        "project": f"{u}/ui/projects/shop",
        "pipeline": f"{u}/ui/projects/shop/pipelines/api",
        "record": rec("api") + "#L12",
        "record-failed": rec("frontend"),
        "record-live": rec("nightly"),
        "clouds": f"{u}/ui/clouds",
    }
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=["--no-sandbox"]
        )
        sizes: tuple[tuple[str, ViewportSize, bool], ...] = (
            ("desktop", {"width": 1280, "height": 860}, False),
            ("phone", {"width": 390, "height": 844}, True),
        )
        for tag, viewport, mobile in sizes:
            for scheme in ("light", "dark"):
                ctx = browser.new_context(
                    viewport=viewport, is_mobile=mobile, color_scheme=scheme, device_scale_factor=1
                )
                page = ctx.new_page()
                if scheme == "light":
                    shoot(page, f"{u}/ui/login", out / f"login-{tag}.png", 0.3)
                page.goto(f"{u}/ui/login")
                page.get_by_label("API token").fill(TOKEN)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"{u}/ui/")
                for name, url in pages.items():
                    if scheme == "dark" and name not in ("projects", "record"):
                        continue
                    if name == "clouds":
                        page.goto(url)
                        for button in page.get_by_role("button", name="Ping").all():
                            button.click()
                        time.sleep(1.5)
                        page.screenshot(path=str(out / f"{name}-{tag}.png"), full_page=True)
                        continue
                    suffix = f"-{scheme}" if scheme == "dark" else ""
                    shoot(page, url, out / f"{name}-{tag}{suffix}.png")
                ctx.close()
        browser.close()
    api.patch(
        f"/api/v1/projects/shop/pipelines/nightly/records/{ids['nightly']}/status",
        json={"status": "Aborted"},
    )
    return f"screenshots in {out}: " + ", ".join(sorted(p.name for p in out.glob("*.png")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.ui_screenshots", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "ui"
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cyclone-ui-shots-"))
    lab = Lab(work, f"cyclone-ui-shots-{os.getpid()}")
    return run_and_report(work, lambda: run(lab, args.out), lab.stop_all)


if __name__ == "__main__":
    sys.exit(main())
