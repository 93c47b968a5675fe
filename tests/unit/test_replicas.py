"""`CYCLONE_REPLICAS`: how many processes of each service the launcher starts."""

from __future__ import annotations

import pytest

from services.cloud.domain import replica_host
from shared import config
from tools.stack import replica_names

RESIDENT = ("scheduler", "scm", "logs", "cloud")


def test_unnamed_services_have_one_process() -> None:
    assert config.replicas("", RESIDENT) == dict.fromkeys(RESIDENT, 1)
    assert config.replicas(" scheduler=2, logs=3 ,", RESIDENT) == {
        "scheduler": 2,
        "scm": 1,
        "logs": 3,
        "cloud": 1,
    }


@pytest.mark.parametrize(
    "raw", ["api=2", "worker=2", "scheduler", "scheduler=two", "scheduler=0", "logs=17"]
)
def test_what_cannot_be_started_is_refused_with_the_reason(raw: str) -> None:
    with pytest.raises(SystemExit, match="CYCLONE_REPLICAS"):
        config.replicas(raw, RESIDENT)


def test_each_replica_has_a_stable_name_and_number() -> None:
    names = replica_names({"scheduler": 2, "cloud": 1})
    assert names == {
        "scheduler": ("scheduler", 1),
        "scheduler-2": ("scheduler", 2),
        "cloud": ("cloud", 1),
    }


def test_cloud_replicas_on_one_host_own_their_workers_apart() -> None:
    assert replica_host("h", 1) == "h"  # as before replicas: saved workers are still adopted
    assert replica_host("h", 2) == "h#2" != replica_host("h", 3)
