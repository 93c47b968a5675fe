"""Payload checks at the boundary (shared/contracts/boundary.py)."""

from __future__ import annotations

import pytest
from nameko.exceptions import deserialize, serialize

from shared.contracts import catalog, events, logs, rpc
from shared.contracts.boundary import MalformedPayload, check
from shared.contracts.errors import InvalidRequest


def test_a_payload_that_fits_is_returned_itself_unknown_fields_kept() -> None:
    payload = {"record_id": "r", "time": "t", "added_by_a_newer_worker": 1}
    assert check(events.Heartbeat, payload, "heartbeat") is payload


@pytest.mark.parametrize(
    ("model", "payload", "message"),
    [
        (events.Heartbeat, {"time": "t"}, "malformed heartbeat: record_id: Field required"),
        (
            logs.LogBatch,
            {"record_id": "r", "seq": "1", "stage": "s", "lines": []},
            "malformed heartbeat: seq: Input should be a valid integer",  # strict: no "1" -> 1
        ),
        (
            logs.LogBatch,
            {"record_id": "r", "seq": 1, "stage": "s", "lines": ["a", 2]},
            "malformed heartbeat: lines.1: Input should be a valid string",
        ),
        (
            catalog.Pipeline,
            {"build": {"stages": {"unitTest": {"command": "make"}}}},
            "malformed heartbeat: build.stages.unitTest.command: Input should be a valid list",
        ),
        (
            rpc.RecordRequest,
            {"project": {}, "pipeline": {}, "params": {}, "trigger": "user"},
            "malformed heartbeat: owner: Field required",
        ),
        (events.Heartbeat, ["not", "a", "dict"], "malformed heartbeat: (the payload)"),
    ],
)
def test_a_malformed_payload_names_its_field(model: type, payload: object, message: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        check(model, payload, "heartbeat")
    assert str(caught.value).startswith(message), str(caught.value)


def test_every_error_is_counted() -> None:
    with pytest.raises(MalformedPayload, match=r"\(and 2 more\)"):
        check(events.StageStarted, {}, "stage_started")


def test_an_rpc_caller_gets_it_back_as_an_invalid_request() -> None:
    """nameko rebuilds it by name on the calling side (the gateway answers 400)."""
    try:
        check(events.Heartbeat, {}, "heartbeat")
    except MalformedPayload as exc:
        back = deserialize(serialize(exc))
    assert isinstance(back, MalformedPayload)
    assert isinstance(back, InvalidRequest)
    assert "record_id: Field required" in str(back)
