"""`python -m bench.contracts [--rounds 20000]`: what checking a payload against its contract
costs (shared/contracts/boundary.py, pydantic in strict mode), per message, against decoding
the same message from JSON (the baseline: every message is decoded anyway).

Payloads are the shapes the services exchange: a heartbeat, a stage end with checkout
details, a log batch of 50 lines, and a run request with a whole pipeline snapshot.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from shared.contracts import events, logs, rpc
from shared.contracts.boundary import check

PIPELINE = {
    "id": "6b1498a0afe323f63743b0c5",
    "projectID": "6b1498a0afe323f63743b0c4",
    "name": "build",
    "owner": "alice",
    "build": {
        "builderImage": {"image": "golang:1.22", "envVars": [{"name": "GOFLAGS", "value": "-v"}]},
        "stages": {
            "codeCheckout": {
                "mainRepo": {
                    "type": "Github",
                    "github": {"url": "https://github.com/o/r", "ref": "main"},
                }
            },
            "unitTest": {"command": ["go vet ./...", "go test ./..."], "outputs": ["cover.out"]},
            "package": {"command": ["go build -o app ."], "outputs": ["app"]},
            "imageBuild": {
                "buildInfos": [
                    {"taskName": "t", "imageName": "o/r:1", "dockerfilePath": "Dockerfile"}
                ]
            },
        },
    },
    "autoTrigger": {"scmTrigger": {"push": {"stages": ["unitTest"], "branches": ["main"]}}},
    "notification": {"policy": "Failure", "receivers": [{"type": "email", "addresses": ["a@b.c"]}]},
    "creationTime": "2026-12-06T00:00:00Z",
    "lastUpdateTime": "2026-12-06T00:00:00Z",
}
PROJECT = {
    "id": "6b1498a0afe323f63743b0c4",
    "name": "proj",
    "scm": {"type": "Github", "server": "https://github.com", "token": "gAAAA" + "x" * 100},
    "registry": {"server": "registry.local", "repository": "o"},
    "creationTime": "2026-12-06T00:00:00Z",
}
CASES: dict[str, tuple[type, object]] = {
    "heartbeat": (
        events.Heartbeat,
        {"record_id": "0" * 24, "time": "2026-12-06T00:00:00Z", "worker_token": "t" * 43},
    ),
    "stage_finished": (
        events.StageFinished,
        {
            "record_id": "0" * 24,
            "stage": "codeCheckout",
            "status": "Success",
            "time": "2026-12-06T00:00:01Z",
            "started": "2026-12-06T00:00:00Z",
            "details": {
                "commits": {
                    "mainRepo": {"ID": "a" * 40, "Author": "x", "Date": "d", "Message": "m"}
                }
            },
            "worker_token": "t" * 43,
        },
    ),
    "log batch (50 lines)": (
        logs.LogBatch,
        {
            "record_id": "0" * 24,
            "seq": 1,
            "stage": "unitTest",
            "lines": ["x" * 80] * 50,
            "worker_mac": "0" * 64,
        },
    ),
    "run request (pipeline snapshot)": (
        rpc.RecordRequest,
        {
            "project": PROJECT,
            "pipeline": PIPELINE,
            "params": {"ref": "main"},
            "trigger": "user",
            "owner": "alice",
        },
    ),
}


def per_call(fn: Callable[[], object], rounds: int) -> float:
    """Microseconds per call, the best of three runs."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - start) / rounds)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20000)
    args = parser.parse_args()
    print(f"{'payload':34} {'bytes':>6} {'check µs':>9} {'json µs':>8} {'ratio':>6}")
    for name, (model, payload) in CASES.items():
        raw = json.dumps(payload)
        check(model, payload, name)  # build the validator once, as a service does at its first
        checked = per_call(lambda m=model, p=payload: check(m, p, "bench"), args.rounds)
        decoded = per_call(lambda r=raw: json.loads(r), args.rounds)
        print(f"{name:34} {len(raw):>6} {checked:>9.2f} {decoded:>8.2f} {checked / decoded:>6.2f}")


if __name__ == "__main__":
    main()
