"""The log-line stream from workers to the logs service (kombu, not nameko events).

One nameko event per line would cost a message and a handler call each; workers batch lines
instead. Messages are persistent on a durable queue, so lines the logs service has not stored
wait in the broker (a restart of the logs service loses nothing).
"""

from typing import Final, NotRequired

from typing_extensions import TypedDict

EXCHANGE: Final = "cyclone.logs"  # direct, durable
QUEUE: Final = "cyclone.logs.ingest"  # durable; the logs service consumes it
ROUTING_KEY: Final = "lines"

# Stage descriptions in the log's framing lines: "Stage: <Desc> status: start".
STAGE_DESC: Final = {
    "codeCheckout": "Code checkout",
    "unitTest": "Unit test",
    "codeScan": "Code scan",
    "package": "Package",
    "imageBuild": "Build image",
    "integrationTest": "Integration test",
    "imageRelease": "Push image",
}


class LogBatch(TypedDict):
    """Consecutive lines of one record and one stage (and task).

    `seq` is the line number of the first line, counted from 1 over the whole record by the
    worker, so the logs service can order, deduplicate and detect gaps whatever the delivery
    order. The worker's last message has `eof: true`: on the log's last lines, or on none
    with `seq` = total lines + 1 (a log that ended with nothing pending, or an older worker).
    """

    record_id: str
    seq: int
    stage: str
    task: NotRequired[str]
    lines: list[str]
    eof: NotRequired[bool]
    worker_mac: NotRequired[str]  # signed with the record's worker token (shared/workertoken.py)


def start_line(stage: str) -> str:
    return f"Stage: {STAGE_DESC.get(stage, stage)} status: start"


def finish_line(stage: str) -> str:
    return f"Stage: {STAGE_DESC.get(stage, stage)} status: finish"


def fail_line(stage: str, why: str) -> str:
    return f"Stage: {STAGE_DESC.get(stage, stage)} status: fail with error: {why}"


def skip_line(stage: str, why: str) -> str:
    """The end of a stage an untrusted run skipped (it needs a secret the run lacks)."""
    return f"Stage: {STAGE_DESC.get(stage, stage)} status: skipped: {why}"


# After storing a batch, the logs service republishes it here (topic exchange, routing key =
# record id, transient messages) for gateways that follow that record live, in a LiveBatches
# with the record's other batches stored meanwhile. Stored first, then announced: a follower
# that sees a batch finds every line before it in storage, once the batches stored at the same
# time are in.
LIVE_EXCHANGE: Final = "cyclone.logs.live"


class LiveBatches(TypedDict):
    """One live announcement: batches of one record stored since the last one, in line
    order. The logs service stores several batches at once, so a later batch can still be
    announced before an earlier one (in the next announcement): a follower copes with any
    order (services/api/domain/livelines.py)."""

    record_id: str
    batches: list[LogBatch]
