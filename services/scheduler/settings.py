"""The scheduler's own settings (CYCLONE_MAX_RUNNING, CYCLONE_RECORD_TIMEOUT, ...)."""

from __future__ import annotations

import os

from services.scheduler.runs import Limits
from shared.contracts import events


def limits(env: dict[str, str] | None = None) -> Limits:
    env = dict(os.environ if env is None else env)
    return Limits(
        max_running=int(env.get("CYCLONE_MAX_RUNNING") or 4),
        record_timeout=int(env.get("CYCLONE_RECORD_TIMEOUT") or 7200),
        records_per_pipeline=int(env.get("CYCLONE_RECORDS_PER_PIPELINE") or 50),
        # Tests shorten it; in production the contract's 30 s stands.
        heartbeat_timeout=float(env.get("CYCLONE_HEARTBEAT_TIMEOUT") or events.HEARTBEAT_TIMEOUT),
        cron_per_second=env.get("CYCLONE_CRON_PER_SECOND", "") in ("1", "true"),
        start_timeout=float(env.get("CYCLONE_WORKER_START_TIMEOUT") or 300),
        cloud_call_timeout=float(env.get("CYCLONE_CLOUD_CALL_TIMEOUT") or 8),
    )
