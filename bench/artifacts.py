"""`python -m bench.artifacts`: a 200 MiB artifact through Cyclone next to plain GridFS.

Starts its own secantusdb and stack (`python -m tools.stack`) on a private RabbitMQ vhost,
writes `--mib` MiB of random bytes to a temp file, then times:

- upload: the worker's own code (services/worker/artifacts.ArtifactClient over
  host_files) sending the file to the stack's logs service, chunk calls 4 in flight, until
  the logs service has stored it, checked its sha256 (read back) and kept it;
- download (RPC): the gateway's way of reading it (read_artifact calls, 3 ahead), hashed;
- download (HTTP): a real run whose package stage writes the same amount, then
  `GET .../artifacts/{path}` through the gateway, streamed and hashed;
- GridFS: the same file put and got with pymongo's GridFSBucket (1 MiB chunks) on the same
  database, the floor any GridFS design pays.

Prints MiB/s and the ratio Cyclone / GridFS. Exit 0 once printed, 2 on a setup failure.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from bson import ObjectId
from gridfs import GridFSBucket
from pymongo import MongoClient

from bench.common import Lab, SetupError, client, create, interrupt_on_sigterm, run_and_report, say
from services.worker.artifacts import ArtifactClient, host_files
from services.worker.bus import RpcSession
from shared import workertoken
from shared.contracts import artifacts as art
from tests.repos import make_git_repo

SECRET_KEY = "bench-artifacts-secret-key"
PREFETCH = 3  # as services/api/resources/artifacts.py


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def upload(lab: Lab, path: Path) -> tuple[float, str, str]:
    record = str(ObjectId())
    token = workertoken.WorkerTokens(SECRET_KEY).issue(record)
    artifacts = ArtifactClient(lab.amqp_uri, record, token, session=RpcSession(lab.amqp_uri, 120))
    try:
        started = time.perf_counter()
        kept = artifacts.keep("package", host_files(path.parent, [path.name], say), lambda _l: None)
        seconds = time.perf_counter() - started
    finally:
        artifacts.close()
    if kept != [path.name]:
        raise SetupError(f"kept {kept}, expected {path.name}")
    return seconds, record, token


def download_rpc(lab: Lab, record: str, size: int) -> tuple[float, str]:
    session = RpcSession(lab.amqp_uri, 120)
    try:
        info = session.call("logs", art.INFO, [record, "big.bin"])
        digest = hashlib.sha256()
        offsets = iter(range(0, size, art.CHUNK_SIZE))
        pending: deque[str] = deque()
        started = time.perf_counter()
        for offset in offsets:
            pending.append(
                session.send("logs", art.READ, [record, info["id"], offset, art.CHUNK_SIZE])
            )
            if len(pending) >= PREFETCH:
                break
        while pending:
            data = base64.b64decode(session.wait(pending.popleft()))
            following = next(offsets, None)
            if following is not None:
                pending.append(
                    session.send("logs", art.READ, [record, info["id"], following, art.CHUNK_SIZE])
                )
            digest.update(data)
        return time.perf_counter() - started, digest.hexdigest()
    finally:
        session.close()


def download_http(lab: Lab, work: Path, mib: int) -> tuple[float, float, str, str]:
    """A real run keeping `mib` MiB; (run seconds, download seconds, sha written, got)."""
    repo = make_git_repo(work / "git")
    api = client(lab.api)
    drop = Path(tempfile.mkdtemp(prefix="cyclone-bench-drop-"))
    drop.chmod(0o1777)
    create(
        api,
        "/api/v1/projects",
        {
            "name": "bench-art",
            "scm": {"type": "Github", "server": "https://scm.example.com", "token": "t"},
        },
    )
    stages = {
        "codeCheckout": {"mainRepo": {"type": "other", "otherCodeSource": {"url": repo.url}}},
        "package": {
            "command": [
                f"head -c {mib * 1024 * 1024} /dev/urandom > big.bin",
                f"sha256sum big.bin | cut -d' ' -f1 > {drop}/sha",
            ],
            "outputs": ["big.bin"],
        },
    }
    create(
        api,
        "/api/v1/projects/bench-art/pipelines",
        {"name": "big", "build": {"builderImage": {"image": "local"}, "stages": stages}},
    )
    base = "/api/v1/projects/bench-art/pipelines/big/records"
    started = time.perf_counter()
    record = create(api, base, {"ref": "main"})
    while True:
        got = api.get(f"{base}/{record['id']}").json()
        if got["status"] in ("Success", "Failed", "Aborted"):
            break
        time.sleep(0.2)
    run_seconds = time.perf_counter() - started
    if got["status"] != "Success":
        raise SetupError(f"the run ended {got['status']}: {got.get('errorMessage')}")
    digest = hashlib.sha256()
    started = time.perf_counter()
    with api.stream("GET", f"{base}/{record['id']}/artifacts/big.bin", timeout=600) as resp:
        for chunk in resp.iter_bytes(1 << 20):
            digest.update(chunk)
    seconds = time.perf_counter() - started
    return run_seconds, seconds, (drop / "sha").read_text().strip(), digest.hexdigest()


def gridfs(lab: Lab, path: Path) -> tuple[float, float, str]:
    with MongoClient(lab.mongo_url) as mongo:
        bucket = GridFSBucket(mongo["bench_gridfs"], chunk_size_bytes=art.CHUNK_SIZE)
        started = time.perf_counter()
        with open(path, "rb") as f:
            file_id = bucket.upload_from_stream(path.name, f)
        put = time.perf_counter() - started
        digest = hashlib.sha256()
        started = time.perf_counter()
        stream = bucket.open_download_stream(file_id)
        while chunk := stream.read(art.CHUNK_SIZE):
            digest.update(chunk)
        got = time.perf_counter() - started
        mongo.drop_database("bench_gridfs")
    return put, got, digest.hexdigest()


def run(lab: Lab, mib: int) -> str:
    lab.start_stack({"CYCLONE_SECRET_KEY": SECRET_KEY})
    path = lab.work / "big.bin"
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    want, size = sha256_file(path), mib * 1024 * 1024
    say(f"{mib} MiB written; uploading through the worker's client")
    up, record, _token = upload(lab, path)
    say("downloading over RPC")
    down, got = download_rpc(lab, record, size)
    if got != want:
        raise SetupError("the RPC download has another sha256")
    say("a real run, then its artifact over HTTP")
    run_s, http_s, wrote, http_got = download_http(lab, lab.work, mib)
    if wrote != http_got:
        raise SetupError("the HTTP download has another sha256 than the build wrote")
    say("plain GridFS")
    g_put, g_get, g_sha = gridfs(lab, path)
    if g_sha != want:
        raise SetupError("GridFS gave back another sha256")

    def mibs(seconds: float) -> float:
        return mib / seconds

    rows = [
        ("upload (worker -> logs service, sha256 checked)", up, g_put),
        ("download over RPC (the gateway's reads)", down, g_get),
        ("download over HTTP (GET .../artifacts/big.bin)", http_s, g_get),
    ]
    lines = [f"artifacts: {mib} MiB, 1 MiB chunks", ""]
    lines.append(f"{'path':52} {'cyclone MiB/s':>14} {'GridFS MiB/s':>13} {'ratio':>6}")
    for name, seconds, base in rows:
        lines.append(f"{name:52} {mibs(seconds):14.1f} {mibs(base):13.1f} {base / seconds:6.2f}")
    lines.append("")
    lines.append(
        f"a real run keeping {mib} MiB (checkout, head -c from /dev/urandom, sha256sum, "
        f"keeping it): {run_s:.1f}s"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.artifacts")
    parser.add_argument("--mib", type=int, default=200, help="artifact size (default 200)")
    args = parser.parse_args()
    interrupt_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="cyclone-bench-artifacts-"))
    lab = Lab(work, f"cyclone-bench-artifacts-{os.getpid()}")
    return run_and_report(work, lambda: run(lab, args.mib), lab.stop_all)


if __name__ == "__main__":
    sys.exit(main())
