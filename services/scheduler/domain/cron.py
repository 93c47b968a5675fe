"""Cron triggers: when each fires next (standard 5-field expressions, UTC)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from croniter import croniter


def next_run(expression: str, after: datetime, per_second: bool = False) -> datetime:
    """The first tick strictly after `after`.

    `per_second` is a test clock (CYCLONE_CRON_PER_SECOND): the minute field counts seconds
    and the other fields are ignored, so `*/2 * * * *` fires every 2 seconds.
    """
    if per_second:
        expression = "* * * * * " + expression.split()[0]
    return croniter(expression, after).get_next(datetime)


def triggers_of(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    """The cron entries of a pipeline (`autoTrigger.cronTrigger.crons`)."""
    crons = ((pipeline.get("autoTrigger") or {}).get("cronTrigger") or {}).get("crons") or []
    return [c for c in crons if isinstance(c, dict) and c.get("expression")]
