"""The scheduler's own settings (CYCLONE_MAX_RUNNING, CYCLONE_RECORD_TIMEOUT, ...)."""

from __future__ import annotations

from collections.abc import Mapping

from services.scheduler.runs import Limits
from shared.contracts import events
from shared.envvars import Env


def limits(env: Mapping[str, str] | None = None) -> Limits:
    """The scheduler's limits from the environment (os.environ unless given)."""
    read = Env(env)
    return Limits(
        max_running=read.integer("CYCLONE_MAX_RUNNING", 4),
        record_timeout=read.integer("CYCLONE_RECORD_TIMEOUT", 7200),
        records_per_pipeline=read.integer("CYCLONE_RECORDS_PER_PIPELINE", 50),
        # Tests shorten it; in production the contract's 30 s stands.
        heartbeat_timeout=read.number("CYCLONE_HEARTBEAT_TIMEOUT", events.HEARTBEAT_TIMEOUT),
        cron_per_second=read.flag("CYCLONE_CRON_PER_SECOND", False),
        start_timeout=read.number("CYCLONE_WORKER_START_TIMEOUT", 300),
        cloud_call_timeout=read.number("CYCLONE_CLOUD_CALL_TIMEOUT", 8),
    )
