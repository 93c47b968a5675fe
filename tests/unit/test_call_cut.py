"""A start whose broker connection broke is a cut call (tried again), not a failed start
(services/scheduler/dependencies.py cut_as_call_cut, runs.CallCut)."""

from __future__ import annotations

import pytest
from amqp.exceptions import RecoverableConnectionError
from kombu.exceptions import OperationalError

from services.scheduler.dependencies import cut_as_call_cut
from services.scheduler.runs import CallCut
from shared.contracts.errors import CapacityExceeded
from shared.deadline import PeerSilent


def raising(exc: BaseException):
    def call(*_args: object) -> object:
        raise exc

    return call


@pytest.mark.parametrize(
    "exc",
    [RecoverableConnectionError(), ConnectionResetError(104, "reset"), OperationalError("gone")],
)
def test_a_broken_broker_connection_is_a_cut_call(exc):
    with pytest.raises(CallCut):
        cut_as_call_cut(raising(exc))("record", "p", "q", {})


@pytest.mark.parametrize(
    "exc", [PeerSilent("the cloud service did not start a worker"), CapacityExceeded("full")]
)
def test_other_failures_pass_through(exc):
    with pytest.raises(type(exc)):
        cut_as_call_cut(raising(exc))("record", "p", "q", {})


def test_an_answer_passes_through():
    assert cut_as_call_cut(lambda *a: {"ok": a})(1, 2) == {"ok": (1, 2)}
