"""What the artifact tests of every cloud check: listings against what the build wrote,
byte-identical downloads and archives, Range, memory of the services while a file moves."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Runs

# The package stage of the artifact pipelines: a binary, a folder tree (an empty file and a
# symbolic link in it too), copied to $DROP so the test sees exactly what the build wrote.
PACKAGE = [
    "mkdir -p bin dist/docs dist/empty-dir",
    "head -c 300001 /dev/urandom > bin/app && chmod 755 bin/app",
    "head -c 70000 /dev/urandom > dist/lib.so && echo readme > dist/docs/README",
    ": > dist/docs/empty.txt && ln -s ../bin/app dist/link-to-app",
]
EXPECTED_PATHS = ["bin/app", "dist/docs/README", "dist/docs/empty.txt", "dist/lib.so"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(root: Path, paths: list[str]) -> dict[str, bytes]:
    return {p: (root / p).read_bytes() for p in paths}


def check_listing(runs: Runs, pipeline: str, record: dict[str, Any], wrote: dict[str, bytes]):
    """The listing and stageStatus name exactly the files written, with sizes and hashes."""
    listed = runs.api.get(runs.url(pipeline, record["id"], "/artifacts"))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["metadata"]["total"] == len(wrote)
    by_path = {item["path"]: item for item in body["items"]}
    assert sorted(by_path) == sorted(wrote)
    for path, data in wrote.items():
        item = by_path[path]
        assert item["size"] == len(data), item
        assert item["sha256"] == sha256(data), item
        assert item["stage"] == "package"
        assert item["creationTime"].endswith("Z")
        assert set(item) == {"path", "size", "sha256", "stage", "creationTime"}
    assert sorted(record["stageStatus"]["package"]["artifacts"]) == sorted(wrote)


def check_downloads(runs: Runs, pipeline: str, record_id: str, wrote: dict[str, bytes]) -> None:
    for path, data in wrote.items():
        got = runs.api.get(runs.url(pipeline, record_id, f"/artifacts/{path}"))
        assert got.status_code == 200, got.text
        assert got.content == data, path
        assert got.headers["etag"] == f'"{sha256(data)}"'
        name = path.rsplit("/", 1)[-1]
        assert got.headers["content-disposition"] == f'attachment; filename="{name}"'
        assert got.headers["accept-ranges"] == "bytes"
    app = wrote["bin/app"]
    url = runs.url(pipeline, record_id, "/artifacts/bin/app")
    cases = {"bytes=1000-1999": app[1000:2000], "bytes=-10": app[-10:], "bytes=300000-": app[-1:]}
    cases["bytes=262140-1048580"] = app[262140:]  # across a chunk boundary, past the end
    for header, want in cases.items():
        part = runs.api.get(url, headers={"Range": header})
        assert part.status_code == 206, (header, part.text)
        assert part.content == want, header
        first = len(app) - len(want) if header != "bytes=1000-1999" else 1000
        assert part.headers["content-range"] == (
            f"bytes {first}-{first + len(want) - 1}/{len(app)}"
        ), header
    refused = runs.api.get(url, headers={"Range": f"bytes={len(app)}-"})
    assert refused.status_code == 416, (refused.status_code, refused.headers, refused.text[:300])
    assert refused.headers["content-range"] == f"bytes */{len(app)}"
    same = runs.api.get(url, headers={"If-None-Match": f'"{sha256(app)}"'})
    assert same.status_code == 304
    missing = runs.api.get(runs.url(pipeline, record_id, "/artifacts/bin/nope"))
    assert missing.status_code == 404, missing.text
    archive = runs.api.get(runs.url(pipeline, record_id, "/artifacts.tar.gz"))
    assert archive.status_code == 200, archive.text
    assert archive.headers["content-type"] == "application/gzip"
    assert "-artifacts.tar.gz" in archive.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == sorted(wrote)
        for path, data in wrote.items():
            extracted = tar.extractfile(members[path])
            assert extracted is not None and extracted.read() == data, path
        assert members["bin/app"].mode & 0o777 == 0o755


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (the gateway: gunicorn's arbiter and its workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return found


@contextmanager
def peak_growth(pids: dict[str, list[int]], every: float = 0.05) -> Iterator[dict[str, int]]:
    """Per name: the largest RSS growth (bytes) of any of its processes over the block,
    sampled every `every` seconds against the RSS when the block began."""
    flat = {pid: name for name, group in pids.items() for pid in group}
    base = {pid: rss_kib(pid) for pid in flat}
    peak = dict(base)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in flat:
                peak[pid] = max(peak[pid], rss_kib(pid))
            stop.wait(every)

    result: dict[str, int] = {}
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        for pid, name in flat.items():
            grown = (peak[pid] - base[pid]) * 1024
            result[name] = max(result.get(name, 0), grown)


def stream_sha256(client: httpx.Client, url: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with client.stream("GET", url, timeout=300) as resp:
        assert resp.status_code == 200, resp.read()
        for chunk in resp.iter_bytes(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def remove(path: Path) -> None:
    if path.exists():
        os.unlink(path)
