"""Cron triggers: when each fires next (standard 5-field expressions, UTC)."""

from __future__ import annotations

from datetime import datetime

from croniter import croniter

from shared.contracts.catalog import CronEntry, Pipeline


def next_run(expression: str, after: datetime, per_second: bool = False) -> datetime:
    """The first tick strictly after `after`.

    `per_second` is a test clock (CYCLONE_CRON_PER_SECOND): the minute field counts seconds
    and the other fields are ignored, so `*/2 * * * *` fires every 2 seconds.
    """
    if per_second:
        expression = "* * * * * " + expression.split()[0]
    return croniter(expression, after).get_next(datetime)


def triggers_of(pipeline: Pipeline) -> list[CronEntry]:
    """The cron entries of a pipeline (`autoTrigger.cronTrigger.crons`) that have an expression."""
    crons = pipeline.get("autoTrigger", {}).get("cronTrigger", {}).get("crons", [])
    return [c for c in crons if c.get("expression")]
