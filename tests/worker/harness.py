"""A worker-like process for tests: runs a job from a JSON file on the real bus, without a
scheduler, through the worker's own entry code (signal handlers, runtime, BusSink).

`python -m tests.worker.harness AMQP_URI JOB_JSON WORKSPACE`
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from services.worker.main import execute, install_stop_handlers
from services.worker.publisher import BusSink


def main(argv: list[str]) -> int:
    uri, job_file, workspace = argv
    job = json.loads(Path(job_file).read_text())
    abort = threading.Event()
    install_stop_handlers(abort)
    return execute(job, BusSink(uri, job["record_id"]), Path(workspace), abort)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
