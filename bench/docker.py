"""`python -m bench.docker`: what a one-command package stage costs on the Docker cloud.

Starts its own secantusdb and Cyclone stack on a private RabbitMQ vhost (as bench.runs does),
a Docker cloud on the local engine (`unix:///var/run/docker.sock`, started by
`tools/docker-up.sh`), a project placed on it and a pipeline whose builder image is
`cyclone-test/busybox` and whose package stage runs `echo packaged`. Then `--records`
records one after another (after one warm-up record), each measured as:

- the package stage: its endTime - startTime as the worker reported them (the command
  exec'd in the builder container, output streamed back);
- the whole record: POST to the record's endTime (worker start, checkout on the host, copy
  into the workspace volume, builder container start, both stages, removal of everything);

and, in the same run, the baseline: `docker run --rm cyclone-test/busybox sh -e -c "echo
packaged"` through the same engine (the docker SDK: create, start, wait, logs, remove),
`--records` times. Prints p50/p95 of each and the ratios stage / baseline and record /
baseline. Exit status: 0 once the report is printed, 2 when the setup failed, 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import httpx

from bench.common import (
    Lab,
    SetupError,
    client,
    create,
    fmt,
    interrupt_on_sigterm,
    nearest_rank,
    run_and_report,
    say,
)
from bench.summary import Figure, record, targets_lines
from tests.repos import make_git_repo

ENGINE = "unix:///var/run/docker.sock"
IMAGE = "cyclone-test/busybox:latest"
COMMAND = "echo packaged"
PROJECT = "bench-docker"
PIPELINE = "bench"
CLOUD = "bench-docker"
SCM = {"type": "Github", "server": "https://scm.example.com", "token": "t"}
FINISHED = frozenset({"Success", "Failed", "Aborted"})
RECORD_TIMEOUT = 120.0
PAUSE = 0.5
TARGET_RECORD_MS = 1000.0


def seconds(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def run_record(api: httpx.Client, path: str) -> tuple[float, float]:
    """(package stage seconds, POST-to-end seconds) of one record; SetupError if it failed."""
    began = time.time()
    resp = api.post(path, json={"ref": "main"})
    if resp.status_code != 201:
        raise SetupError(f"POST {path}: HTTP {resp.status_code} {resp.text[:300]}")
    record_id = resp.json()["id"]
    deadline = time.monotonic() + RECORD_TIMEOUT
    while True:
        got = api.get(f"{path}/{record_id}").json()
        if got.get("status") in FINISHED:
            break
        if time.monotonic() > deadline:
            raise SetupError(f"record {record_id} did not finish in {RECORD_TIMEOUT}s")
        time.sleep(0.02)
    if got["status"] != "Success":
        raise SetupError(f"record {record_id} {got['status']}: {got.get('errorMessage')}")
    stage = got["stageStatus"]["package"]
    return seconds(stage["endTime"]) - seconds(stage["startTime"]), seconds(got["endTime"]) - began


def bare_run(engine: docker.DockerClient) -> float:
    began = time.perf_counter()
    out = engine.containers.run(IMAGE, ["sh", "-e", "-c", COMMAND], remove=True)
    took = time.perf_counter() - began
    if out.strip() != b"packaged":
        raise SetupError(f"the baseline container printed {out!r}")
    return took


def run(lab: Lab, records: int) -> str:
    engine = docker.DockerClient(base_url=ENGINE, version="auto", timeout=60)
    try:
        engine.images.get(IMAGE)
    except docker.errors.DockerException as exc:
        raise SetupError(f"needs the engine and {IMAGE}: run tools/docker-up.sh ({exc})") from exc
    repo = make_git_repo(lab.work / "repo")
    lab.start_stack({})
    with client(lab.api) as api:
        create(api, "/api/v1/clouds", {"name": CLOUD, "type": "Docker", "docker": {"host": ENGINE}})
        create(
            api,
            "/api/v1/projects",
            {"name": PROJECT, "scm": SCM, "worker": {"location": {"cloudName": CLOUD}}},
        )
        stages: dict[str, Any] = {
            "codeCheckout": {"mainRepo": {"type": "other", "otherCodeSource": {"url": repo.url}}},
            "package": {"command": [COMMAND]},
        }
        create(
            api,
            f"/api/v1/projects/{PROJECT}/pipelines",
            {"name": PIPELINE, "build": {"builderImage": {"image": IMAGE}, "stages": stages}},
        )
        path = f"/api/v1/projects/{PROJECT}/pipelines/{PIPELINE}/records"
        run_record(api, path)  # warm-up
        stage_s, record_s = [], []
        say(f"Docker cloud: {records} records one after another")
        for _ in range(records):
            time.sleep(PAUSE)
            stage, whole = run_record(api, path)
            stage_s.append(stage)
            record_s.append(whole)
    say(f"baseline: docker run --rm {IMAGE} sh -e -c {COMMAND!r}, {records} times")
    bare_run(engine)  # warm-up
    bare_s = [bare_run(engine) for _ in range(records)]
    engine.close()
    return report(stage_s, record_s, bare_s)


def report(stage_s: list[float], record_s: list[float], bare_s: list[float]) -> str:
    def ms(values: list[float], q: float) -> float:
        return nearest_rank(values, q) * 1000

    bare50 = ms(bare_s, 50)
    lines = [
        f"bench.docker: one-command package stage on the Docker cloud ({len(stage_s)} records)",
        f"  package stage (exec in the builder)  p50 {fmt(ms(stage_s, 50))} ms"
        f"  p95 {fmt(ms(stage_s, 95))} ms",
        f"  whole record (POST to end)          p50 {fmt(ms(record_s, 50))} ms"
        f"  p95 {fmt(ms(record_s, 95))} ms",
        f"  baseline docker run --rm            p50 {fmt(bare50)} ms  p95 {fmt(ms(bare_s, 95))} ms",
        f"  ratio stage / baseline   {fmt(ms(stage_s, 50) / bare50, '.2f')}",
        f"  ratio record / baseline  {fmt(ms(record_s, 50) / bare50, '.2f')}",
    ]
    figures = [
        Figure(
            "docker",
            "whole trivial record on the Docker cloud (POST to Success), p50",
            ms(record_s, 50),
            "ms",
            "<=",
            TARGET_RECORD_MS,
            bare50,
        )
    ]
    record(figures)
    return "\n".join([*lines, "", "targets (baseline: docker run --rm):", *targets_lines(figures)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.docker", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--records", type=int, default=20, help="records (and baseline runs)")
    args = parser.parse_args(argv)
    if args.records < 1:
        parser.error("--records must be >= 1")
    interrupt_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="cyclone-bench-docker-"))
    lab = Lab(work, f"cyclone-bench-docker-{os.getpid()}")
    return run_and_report(work, lambda: run(lab, args.records), lab.stop_all)


if __name__ == "__main__":
    sys.exit(main())
