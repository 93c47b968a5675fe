"""Artifacts on the Local cloud, through the whole stack: kept after package, listed with sizes
and hashes, downloaded byte for byte (whole, ranges, tar.gz), a 200 MiB file with the
gateway's and the logs service's memory measured, the per-record limit, deletion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bson import ObjectId
from pymongo import MongoClient

from tests.e2e.artifact_checks import (
    EXPECTED_PATHS,
    PACKAGE,
    check_downloads,
    check_listing,
    files_under,
    peak_growth,
    process_tree,
    stream_sha256,
)
from tests.e2e.conftest import Runs, pipeline_body, project_body
from tests.support import StackProcess
from tests.waiting import wait_for

LIMIT = 256 * 1024 * 1024
BIG = 200 * 1024 * 1024
MEMORY_BUDGET = 50 * 1000 * 1000


@pytest.fixture(scope="module")
def art_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """A stack whose records may keep 256 MiB each (CYCLONE_ARTIFACTS_MAX_BYTES)."""
    proc = StackProcess(
        tmp_path_factory.mktemp("artstack") / "data", CYCLONE_ARTIFACTS_MAX_BYTES=str(LIMIT)
    ).start()
    yield proc
    proc.retire()


@pytest.fixture
def aruns(art_stack: StackProcess, unique: str) -> Iterator[Runs]:
    with art_stack.client() as client:
        resp = client.post("/api/v1/projects", json=project_body(unique))
        assert resp.status_code == 201, resp.text
        yield Runs(client, unique)


@pytest.fixture
def stored(art_stack: StackProcess) -> Iterator[MongoClient]:
    """The stack's database, read to check that deleted artifacts left nothing behind."""
    url = (art_stack.data_dir / "mongo-url").read_text().strip()
    with MongoClient(url, tz_aware=True) as client:
        yield client


def artifact_docs(client: MongoClient, record_id: str) -> tuple[int, int]:
    db = client.get_default_database()
    ids = [d["_id"] for d in db["artifacts.files"].find({"metadata.record_id": record_id})]
    chunks = sum(db["artifacts.chunks"].count_documents({"files_id": i}) for i in ids)
    return len(ids), chunks


def package_pipeline(runs: Runs, unique: str, url: str, drop: Path, commands: list[str]) -> str:
    body = pipeline_body(
        f"{unique}-pl",
        url,
        package=[*commands, f"cp -R bin dist {drop}/"],
        outputs=["bin/app", "dist"],
    )
    return runs.pipeline(body)


def test_package_outputs_are_kept_listed_and_downloaded(aruns: Runs, unique, git_repo, drop):
    name = package_pipeline(aruns, unique, git_repo.url, drop, PACKAGE)
    record = aruns.run(name)
    assert record["status"] == "Success", record
    record = aruns.settled(name, record["id"], {"codeCheckout": "Success", "package": "Success"})
    wrote = files_under(drop, EXPECTED_PATHS)
    check_listing(aruns, name, record, wrote)
    check_downloads(aruns, name, record["id"], wrote)
    log = aruns.log_through(name, record["id"], "Stage: Package status: finish")
    assert "artifact: dist/link-to-app left out (a symbolic link)" in log


@pytest.mark.timeout(420)  # longer than its 300 s wait for the record: that wait says why
def test_a_200_mib_artifact_moves_in_constant_memory(
    aruns: Runs, unique, git_repo, drop, art_stack
):
    """Up (worker -> logs service) and down (logs service -> gateway -> client), the logs
    service and every gateway process grow by less than 50 MB while 200 MiB pass."""
    pids = art_stack.pids()
    watched = {"gateway": process_tree(pids["api"]), "logs": [pids["logs"]]}
    name = aruns.pipeline(
        pipeline_body(
            f"{unique}-big",
            git_repo.url,
            package=[
                f"head -c {BIG} /dev/urandom > big.bin",
                f"sha256sum big.bin | cut -d' ' -f1 > {drop}/big.sha256",
            ],
            outputs=["big.bin"],
        )
    )
    with peak_growth(watched) as up:
        record = aruns.wait(name, aruns.start(name)["id"], timeout=300)
    assert record["status"] == "Success", record
    want = (drop / "big.sha256").read_text().strip()
    listed = aruns.api.get(aruns.url(name, record["id"], "/artifacts")).json()["items"]
    assert [(i["path"], i["size"], i["sha256"]) for i in listed] == [("big.bin", BIG, want)]
    url = aruns.url(name, record["id"], "/artifacts/big.bin")
    with peak_growth(watched) as down:
        got, size = stream_sha256(aruns.api, url)
    assert (got, size) == (want, BIG)
    print(f"RSS growth, upload: {up}; download: {down} (bytes)")
    for phase in (up, down):
        assert phase["logs"] < MEMORY_BUDGET, phase
        assert phase["gateway"] < MEMORY_BUDGET, phase


def test_over_the_limit_fails_the_stage_and_keeps_nothing(aruns: Runs, unique, git_repo, stored):
    name = aruns.pipeline(
        pipeline_body(
            f"{unique}-over",
            git_repo.url,
            package=["echo small > a.txt", f"truncate -s {LIMIT + 1} huge.bin"],
            outputs=["a.txt", "huge.bin"],
        )
    )
    record = aruns.run(name)
    assert record["status"] == "Failed", record
    record = aruns.settled(name, record["id"], {"codeCheckout": "Success", "package": "Failed"})
    error = record["stageStatus"]["package"]["error"]
    assert 'artifact "huge.bin"' in error and "CYCLONE_ARTIFACTS_MAX_BYTES" in error, error
    assert "artifacts" not in record["stageStatus"]["package"]
    listed = aruns.api.get(aruns.url(name, record["id"], "/artifacts")).json()
    assert listed == {"metadata": {"total": 0}, "items": []}
    assert wait_for(lambda: artifact_docs(stored, record["id"]) == (0, 0), 10)


def test_deleting_records_and_pipelines_deletes_their_artifacts(
    aruns: Runs, unique, git_repo, drop, stored
):
    name = package_pipeline(aruns, unique, git_repo.url, drop, PACKAGE)
    first, second = aruns.run(name), aruns.run(name)
    for record in (first, second):
        assert record["status"] == "Success", record
        files, chunks = artifact_docs(stored, record["id"])
        assert files == len(EXPECTED_PATHS) and chunks >= files - 1
    resp = aruns.api.delete(aruns.url(name, first["id"]))
    assert resp.status_code == 204, resp.text
    wait_for(lambda: artifact_docs(stored, first["id"]) == (0, 0), 20, "record's artifacts gone")
    assert artifact_docs(stored, second["id"])[0] == len(EXPECTED_PATHS)
    gone = aruns.api.get(aruns.url(name, first["id"], "/artifacts"))
    assert gone.status_code == 404
    resp = aruns.api.delete(f"/api/v1/projects/{aruns.project}/pipelines/{name}")
    assert resp.status_code == 204, resp.text
    wait_for(lambda: artifact_docs(stored, second["id"]) == (0, 0), 20, "pipeline's artifacts gone")


def test_artifact_endpoints_check_the_record(aruns: Runs, unique, git_repo, drop):
    name = package_pipeline(aruns, unique, git_repo.url, drop, PACKAGE)
    other = str(ObjectId())
    for tail in ("/artifacts", "/artifacts/bin/app", "/artifacts.tar.gz"):
        resp = aruns.api.get(aruns.url(name, other, tail))
        assert resp.status_code == 404, (tail, resp.text)
        assert resp.json()["reason"] == "NotFound"
    unauthenticated = httpx.get(aruns.api.base_url.join(aruns.url(name, other, "/artifacts")))
    assert unauthenticated.status_code == 401
