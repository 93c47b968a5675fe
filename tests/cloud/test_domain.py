"""Pure rules of the cloud service (milliseconds, no processes)."""

from datetime import UTC, datetime

import pytest

from services.cloud import domain
from services.cloud.backends.hostworkers import parse_stat
from shared.contracts import events, services
from shared.contracts.errors import NotFound


@pytest.mark.parametrize(
    ("code", "stopped", "reason"),
    [
        (0, False, "exited with code 0"),
        (1, False, "exited with code 1"),
        (-9, False, "killed by signal 9"),
        (-15, True, "killed by signal 15 (stop requested)"),
        (None, False, "worker process disappeared"),
        (None, True, "worker process disappeared (stop requested)"),
    ],
)
def test_exit_reason(code, stopped, reason):
    assert domain.exit_reason(code, stopped) == reason


@pytest.mark.parametrize("name", [None, "", "local", "Local", " LOCAL "])
def test_local_cloud_names(name):
    assert domain.cloud_of(name) == "local"
    assert domain.cloud_of_placement({"cloudName": name} if name is not None else {}) == "local"


def test_unknown_cloud():
    with pytest.raises(NotFound, match=r"^cloud k8s not found$"):
        domain.cloud_of_placement({"cloudName": "k8s"})


def test_listed_cloud():
    assert domain.listed_cloud("dev", {"name": "dev", "type": "Docker"}) == "dev"
    assert domain.listed_cloud("LOCAL", None) == "local"
    with pytest.raises(NotFound, match=r"^cloud k8s not found$"):
        domain.listed_cloud("k8s", None)


@pytest.mark.parametrize("bad", ["", "../../etc", "5f1b" * 6 + "/", "ABCDEF" * 4, 12, None])
def test_record_ids_are_checked(bad):
    with pytest.raises(domain.InvalidRecordId):
        domain.check_record_id(bad)
    assert domain.check_record_id("5f1b2c3d4e5f60718293a4b5") == "5f1b2c3d4e5f60718293a4b5"


def test_worker_info_shape():
    t0 = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    t1 = datetime(2024, 1, 2, 3, 4, 6, tzinfo=UTC)
    info = domain.worker_info("a" * 24, "proj", "pipe", "local", t0, t1)
    assert info == {
        "name": "cyclone-worker-" + "a" * 24,
        "status": "Running",
        "creationTime": "2024-01-02T03:04:05.678Z",
        "lastUpdateTime": "2024-01-02T03:04:06.000Z",
        "projectName": "proj",
        "pipelineName": "pipe",
        "recordID": "a" * 24,
        "cloud": "local",
    }


@pytest.mark.parametrize(
    ("raw", "command"),
    [("", []), ("  ", []), ('["sh", "-c", "sleep 1"]', ["sh", "-c", "sleep 1"])],
)
def test_parse_command(raw, command):
    assert domain.parse_command(raw) == command


@pytest.mark.parametrize("raw", ["sh -c x", "[]", '"sh"', "[1]", '{"a": 1}'])
def test_parse_command_rejects(raw):
    with pytest.raises(ValueError, match="JSON list"):
        domain.parse_command(raw)


def test_proc_stat_with_odd_process_names():
    assert parse_stat(b"42 (a) b (c)) S 1 40 40 0 -1") == ("S", 40)
    assert parse_stat(b"7 (sleep) Z 1 7 7 0") == ("Z", 7)


def test_the_service_is_the_source_of_worker_exited():
    from services.cloud.service import CloudService

    assert events.WORKER_EXITED[0] == services.CLOUD == CloudService.name == "cloud"


@pytest.mark.parametrize(
    ("age", "fresh"),
    [
        (0.0, True),
        (1.5, True),
        (domain.JOB_FRESH_FOR, True),
        (2.5, False),
        (60, False),
        (-1.0, True),
        (-2.5, False),
    ],
)
def test_a_handed_job_is_fresh_for_a_moment_either_way_of_the_clocks(age, fresh):
    """A start taken up late (the scheduler gave it up) leaves its worker to ask for its job;
    a small skew of the two hosts' clocks (negative age) still hands it."""
    sent = 1_800_000_000.0
    assert domain.job_fresh(sent, sent + age) is fresh
