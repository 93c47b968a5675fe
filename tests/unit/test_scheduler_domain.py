from datetime import UTC, datetime, timedelta

import pytest

from services.scheduler.domain import records as rec
from services.scheduler.domain import stats
from shared.contracts.records import RecordStatus

DEFINED = {"codeCheckout": {}, "unitTest": {}, "package": {}, "imageBuild": {}}


def test_all_defined_stages_in_order_when_none_requested():
    assert rec.stages_to_run(None, DEFINED) == ["codeCheckout", "unitTest", "package", "imageBuild"]
    assert rec.stages_to_run([], DEFINED) == rec.stages_to_run(None, DEFINED)


def test_selection_keeps_order_and_always_checks_out():
    assert rec.stages_to_run(["package", "unitTest"], DEFINED) == [
        "codeCheckout",
        "unitTest",
        "package",
    ]


def test_undefined_stage_is_an_error():
    with pytest.raises(rec.StageSelectionError, match="integrationTest"):
        rec.stages_to_run(["integrationTest"], DEFINED)


def test_finished_stage_status():
    got = rec.finished_stage_status(
        {
            "codeCheckout": {"status": "Success"},
            "unitTest": {"status": "Running"},
            "package": {"status": "Pending"},
        },
        RecordStatus.ABORTED,
    )
    assert got == {"codeCheckout": {"status": "Success"}, "unitTest": {"status": "Aborted"}}
    assert rec.finished_stage_status({"a": {"status": "Running"}}, RecordStatus.FAILED) == {
        "a": {"status": "Failed"}
    }


def test_day_of_is_utc_midnight():
    t = datetime(2024, 3, 5, 23, 59, 59, tzinfo=UTC)
    assert rec.day_of(t) == int(datetime(2024, 3, 5, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("start", "end", "n"),
    [
        (1521345720, 1522468920, 14),
        (1521345719, 1522468921, 14),
        (100, 100, 1),
        (200, 100, 0),
        (0, 86399, 1),
        (0, 86400, 2),
    ],
)
def test_day_buckets(start, end, n):
    assert len(stats.day_buckets(start, end)) == n


def test_stats_overview_and_details():
    day0, day1 = 86400 * 10, 86400 * 11
    got = stats.build(
        day0 + 5,
        day1 + 5,
        [(day0, "Success", 3), (day0, "Failed", 1), (day1, "Aborted", 2), (day1, "Running", 4)],
    )
    assert got["overview"] == {
        "total": 10,
        "success": 3,
        "failed": 1,
        "aborted": 2,
        "successRatio": "30.00%",
    }
    assert got["details"] == [
        {"timestamp": day0, "success": 3, "failed": 1, "aborted": 0},
        {"timestamp": day1, "success": 0, "failed": 0, "aborted": 2},
    ]
    assert stats.build(0, 0, [])["overview"]["successRatio"] == "0.00%"


def test_a_record_without_a_worker_yet_shows_pending():
    """While the scheduler asks the cloud for a worker (its first try, or another one for a
    cloud that had no room: a full Kubernetes ResourceQuota), the record is Running inside,
    without a worker: not a run yet. Its worker's first heartbeat shows it runs (the start's
    answer may come after it)."""
    doc = {
        "_id": "5b30a4e5488571000107261f",
        "pipelineID": "p",
        "status": RecordStatus.RUNNING,
        "startTime": datetime(2026, 1, 1, tzinfo=UTC),
        "waitingFor": "exceeded quota",
    }
    assert rec.view(doc)["status"] == RecordStatus.PENDING
    assert rec.view({**doc, "worker": {"name": "w"}})["status"] == RecordStatus.RUNNING
    assert rec.view({**doc, "waitingFor": None})["status"] == RecordStatus.PENDING  # a first try
    assert rec.view({**doc, "heartbeatAt": datetime(2026, 1, 1, tzinfo=UTC)})["status"] == (
        RecordStatus.RUNNING
    )
    assert rec.view({**doc, "status": RecordStatus.FAILED})["status"] == RecordStatus.FAILED


def test_a_worker_gets_no_notification_receivers_or_trigger_secrets():
    from services.scheduler.domain.records import for_worker

    snapshot = {
        "project": {"name": "p"},
        "pipeline": {
            "name": "x",
            "build": {"stages": {}},
            "notification": {"receivers": [{"type": "slack", "url": "enc:v1:..."}]},
            "autoTrigger": {"scmTrigger": {"webhookSecret": "enc:v1:..."}},
        },
    }
    got = for_worker(snapshot)
    assert got["pipeline"] == {"name": "x", "build": {"stages": {}}}
    assert "notification" in snapshot["pipeline"]  # the stored snapshot is left alone


def test_a_record_waiting_for_room_times_out_from_its_creation():
    waited_too_long = rec.waited_too_long
    created = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    doc = {"startTime": created, "timeoutSeconds": 60, "waitingFor": "quota: cpu 4 > 2"}
    assert waited_too_long(doc, created + timedelta(seconds=59)) is None
    why = waited_too_long(doc, created + timedelta(seconds=61))
    assert why == "timed out after 60s waiting for room in its cloud: quota: cpu 4 > 2"
    # a record that is not waiting for room is the run timeout's business
    assert waited_too_long({**doc, "waitingFor": None}, created + timedelta(days=1)) is None
