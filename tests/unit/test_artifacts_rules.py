"""Pure rules of artifacts and reruns: names, chunks, the limit, Range, the streamed tar.gz,
which stages a rerun reuses, what it pins, and that an untrusted record stays untrusted."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime

import pytest

from services.api.domain import artifacts as api_rules
from services.api.domain.errors import ValidationFailed
from services.logs import artifacts as rules
from services.scheduler.domain import records as rec
from shared.workertoken import WorkerTokens

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("path", ["a", "bin/app", "dist/docs/README.md", ".hidden/x"])
def test_good_paths(path):
    assert rules.path_problem(path) is None


@pytest.mark.parametrize(
    "path", ["", "/etc/passwd", "../x", "a/../b", "a//b", "a/./b", "a/", "a\\b", "a\x00", 7]
)
def test_bad_paths(path):
    assert rules.path_problem(path)


def test_the_limit_names_the_file_and_the_setting():
    assert rules.limit_problem("a", 10, 90, 100) is None
    problem = rules.limit_problem("big.bin", 11, 90, 100)
    assert problem and '"big.bin"' in problem and "CYCLONE_ARTIFACTS_MAX_BYTES" in problem


def test_max_bytes_from_the_environment():
    assert rules.max_bytes({}) == 1024**3
    assert rules.max_bytes({"CYCLONE_ARTIFACTS_MAX_BYTES": "12345"}) == 12345
    with pytest.raises(SystemExit):
        rules.max_bytes({"CYCLONE_ARTIFACTS_MAX_BYTES": "1G"})


def test_chunks_of_a_file():
    assert rules.chunk_count(0, 4) == 0
    assert rules.chunk_count(9, 4) == 3
    assert rules.chunk_problem(0, 4, 9, 4) is None
    assert rules.chunk_problem(2, 1, 9, 4) is None
    assert rules.chunk_problem(2, 4, 9, 4)  # the last chunk is short
    assert rules.chunk_problem(1, 3, 9, 4)  # only the last may be short
    assert rules.chunk_problem(3, 1, 9, 4)  # no fourth chunk
    assert rules.chunk_problem(0, 0, 0, 4)  # an empty file has none
    assert rules.chunk_problem(True, 4, 9, 4)
    assert rules.chunks_for(3, 2, 4) == (0, 1)
    assert rules.chunks_for(4, 4, 4) == (1, 1)


def test_read_bounds():
    assert rules.read_problem(0, 10, 5, 100) is None
    assert rules.read_problem(5, 1, 5, 100) is None  # at the end: nothing to read
    assert rules.read_problem(6, 1, 5, 100)
    assert rules.read_problem(0, 101, 500, 100)
    assert rules.read_problem(-1, 1, 5, 100)


def test_item_and_mode():
    doc = {
        "_id": "x",
        "length": 3,
        "uploadDate": NOW,
        "metadata": {"path": "a", "sha256": "f" * 64, "stage": "package", "mode": 0o4755},
    }
    assert rules.item(doc) == {
        "path": "a",
        "size": 3,
        "sha256": "f" * 64,
        "stage": "package",
        "creationTime": "2024-05-01T12:00:00.000Z",
    }
    assert rules.item(doc, internal=True)["id"] == "x"
    assert rules.file_mode(0o104755) == 0o755
    assert rules.file_mode("x") == 0o644


@pytest.mark.parametrize(
    ("header", "want"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=5-", (5, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-1000", (0, 99)),
        ("bytes=90-1000", (90, 99)),
        ("bytes=9-3", None),  # invalid: ignored
        ("bytes=0-1,5-6", None),  # several: the whole file
        ("items=0-1", None),
        ("bytes=-", None),
    ],
)
def test_byte_ranges(header, want):
    assert api_rules.byte_range(header, 100) == want


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0"])
def test_unsatisfiable_ranges(header):
    with pytest.raises(api_rules.Unsatisfiable):
        api_rules.byte_range(header, 100)


def test_etags_and_names():
    assert api_rules.etag("ab") == '"ab"'
    assert api_rules.etag_matches('W/"ab", "cd"', "ab")
    assert api_rules.etag_matches("*", "ab")
    assert not api_rules.etag_matches('"cd"', "ab")
    assert api_rules.download_name('dist/we"ird\nname') == "we_ird_name"


def test_streamed_tar_gz_is_a_tar_gz():
    gz = api_rules.TarGz()
    out = io.BytesIO()
    files = {"bin/app": b"x" * 1000, "dist/empty": b"", "dist/y": b"abc" * 500}
    for path, data in files.items():
        out.write(gz.begin(path, len(data), 0o755, NOW.timestamp()))
        for start in range(0, len(data), 300):
            out.write(gz.data(data[start : start + 300]))
        out.write(gz.end())
    out.write(gz.close())
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), mode="r:gz") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == list(files)
        for member in members:
            extracted = tar.extractfile(member)
            assert extracted is not None and extracted.read() == files[member.name]
            assert member.mode == 0o755 and member.mtime == int(NOW.timestamp())


def test_tar_gz_refuses_wrong_sizes():
    gz = api_rules.TarGz()
    gz.begin("a", 2, 0o644, 0)
    with pytest.raises(ValueError):
        gz.data(b"abc")
    with pytest.raises(ValueError):
        gz.end()


def test_rerun_body():
    assert api_rules.rerun_spec(None) == "start"
    assert api_rules.rerun_spec({}) == "start"
    assert api_rules.rerun_spec({"from": "failed"}) == "failed"
    for bad in ({"from": "middle"}, {"from": "start", "x": 1}, [1], "failed"):
        with pytest.raises(ValidationFailed):
            api_rules.rerun_spec(bad)


# --- reruns in the scheduler -----------------------------------------------------------------

STAGES = ["codeCheckout", "unitTest", "package", "imageBuild", "integrationTest", "imageRelease"]


def original(**statuses: str) -> dict:
    stage_status = {
        "codeCheckout": {
            "status": "Success",
            "startTime": "t0",
            "commits": {"mainRepo": {"ID": "abc123"}, "depRepos": [{"ID": "d1"}]},
        }
    }
    for stage, status in statuses.items():
        stage_status[stage] = {"status": status, "startTime": f"s-{stage}", "endTime": "e"}
    return {
        "_id": "a" * 24,
        "status": "Failed",
        "pipelineID": "p",
        "projectID": "j",
        "stages": STAGES,
        "stageStatus": stage_status,
        "performParams": {"ref": "main", "stages": []},
        "snapshot": {"project": {"name": "old"}, "pipeline": {"name": "pl"}},
    }


def test_reused_stages_stop_at_the_first_failure_and_never_include_image_builds():
    doc = original(
        unitTest="Success", package="Success", imageBuild="Success", integrationTest="Failed"
    )
    assert rec.reused_stages(doc, "failed") == ["unitTest", "package"]
    assert rec.reused_stages(doc, "start") == []
    doc = original(unitTest="Skipped", package="Aborted")
    assert rec.reused_stages(doc, "failed") == []
    doc["stageStatus"].pop("package")  # never reported: the run ended there
    assert rec.reused_stages(doc, "failed") == []


def test_a_record_without_a_failure_has_nothing_to_rerun_from():
    doc = original(**dict.fromkeys(STAGES[1:], "Success"))
    with pytest.raises(rec.RerunRefused, match="no failed stage"):
        rec.reused_stages(doc, "failed")


def test_rerun_record_copies_reused_stages_pins_and_restores():
    doc = original(unitTest="Success", package="Success", imageBuild="Failed")
    doc["stageStatus"]["package"]["artifacts"] = ["bin/app"]
    doc["stageStatus"]["unitTest"]["reusedFrom"] = "b" * 24  # itself a rerun's reuse
    new = rec.rerun_record(doc, "failed", {"name": "now"}, "ada", NOW, 60)
    assert new["rerunOf"] == doc["_id"]
    assert new["stages"] == STAGES and new["status"] == "Pending"
    assert new["reused"] == ["unitTest", "package"]
    assert new["stageStatus"]["package"] == {
        **doc["stageStatus"]["package"],
        "reusedFrom": "a" * 24,
    }
    assert new["stageStatus"]["unitTest"]["reusedFrom"] == "b" * 24
    assert new["stageStatus"]["imageBuild"] == {"status": "Pending"}
    assert new["restore"] == [{"stage": "package", "record": "a" * 24, "paths": ["bin/app"]}]
    assert new["pin"] == {"mainRepo": "abc123", "depRepos": ["d1"]}
    assert new["performParams"] == doc["performParams"]
    assert new["snapshot"] == {"project": {"name": "now"}, "pipeline": {"name": "pl"}}
    assert new["owner"] == "ada" and new["trigger"] == "ada"
    assert "untrusted" not in new
    assert rec.view({**new, "_id": "c" * 24})["rerunOf"] == doc["_id"]


def test_an_untrusted_record_stays_untrusted_when_rerun():
    doc = {**original(unitTest="Failed"), "untrusted": "a pull request from a fork"}
    for start_from in ("start", "failed"):
        new = rec.rerun_record(doc, start_from, {}, "", NOW, 60)
        assert new["untrusted"] == "a pull request from a fork"
        view = rec.view({**new, "_id": "c" * 24})
        assert view["trusted"] is False


def test_active_records_are_not_rerun():
    for status in ("Pending", "Running"):
        with pytest.raises(rec.RerunRefused, match="only finished"):
            rec.rerun_record({**original(), "status": status}, "start", {}, "", NOW, 60)


def test_read_grants_name_source_and_reader():
    tokens = WorkerTokens("k")
    grant = tokens.read_grant("a", "b")
    assert tokens.grant_valid("a", "b", grant)
    assert not tokens.grant_valid("b", "a", grant)
    assert not tokens.grant_valid("a", "c", grant)
    assert grant not in (tokens.issue("a"), tokens.issue("b"))
    assert not tokens.grant_valid("a", "b", "")
