"""A malformed event is rejected where it arrives, before any handler runs: dead-lettered at
once (no retry can fix it) with the field that broke its contract (shared/contracts/events.py
PAYLOADS, checked by shared/redelivery.py), and the services go on."""

from __future__ import annotations

import httpx

from shared.contracts import events, services
from shared.publish import EventDispatcher
from tests.support import StackProcess
from tests.waiting import wait_for
from tools import deadletters


def test_a_malformed_event_is_dead_lettered_at_once_naming_its_field(
    stack: StackProcess, api: httpx.Client, unique: str
) -> None:
    dispatch = EventDispatcher({"AMQP_URI": stack.amqp_uri, "serializer": "json"})
    # a worker's report with a number for its record and no stage; a scheduler's record end
    # with a list for its status
    dispatch(*events.STAGE_FINISHED, {"record_id": 7, "status": "Success", "time": unique})
    dispatch(
        *events.RECORD_FINISHED,
        {"record_id": unique, "pipeline_id": "p", "project_id": "q", "status": [], "time": "t"},
    )

    def letters() -> list[deadletters.DeadLetter]:
        found = deadletters.list_letters(stack.amqp_uri, [services.SCHEDULER, services.SCM], 50)
        return [d for d in found if unique in d.body]

    dead = wait_for(lambda: len(letters()) == 2 and letters(), 30, "two dead letters")
    by_service = {d.service: d for d in dead}
    stage = by_service[services.SCHEDULER]
    assert stage.tries == 1
    assert "MalformedPayload" in stage.error
    assert "malformed worker.stage_finished event: record_id: Input should be a valid string" in (
        stage.error
    )
    assert "(and 1 more)" in stage.error  # the missing stage
    ended = by_service[services.SCM]
    assert ended.tries == 1
    assert "scheduler.record_finished event: status: Input should be a valid string" in ended.error
    # the services went on: a run still starts and answers
    assert api.get("/api/v1/projects").status_code == 200
