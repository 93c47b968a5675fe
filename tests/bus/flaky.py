"""A nameko service for the redelivery tests, run as `python -m tests.bus.flaky`.

Its one handler appends each try to the file the event names, and fails while the event's
`fail_while` file exists (a database away, then back), or raises Poison when asked.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import json  # noqa: E402 - after the monkey patch
import os  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from shared.redelivery import Poison, event_handler  # noqa: E402
from shared.runner import run_service  # noqa: E402

SOURCE, EVENT = "probe", "poke"


class Flaky:
    name = "flaky"

    @event_handler(SOURCE, EVENT)
    def poke(self, payload: dict[str, Any]) -> None:
        away = Path(payload["fail_while"]).exists()
        with open(payload["tries"], "a") as out:
            try_ = {"at": time.monotonic(), "pid": os.getpid(), "away": away}
            out.write(json.dumps(try_) + "\n")
        if payload.get("poison"):
            raise Poison("this message can never be handled")
        if away:
            raise RuntimeError("the database is away")


if __name__ == "__main__":
    run_service(Flaky)
