from datetime import UTC, datetime

from services.scheduler.domain import cron


def test_next_run_standard_expression():
    t = datetime(2024, 1, 1, 10, 7, 30, tzinfo=UTC)
    assert cron.next_run("*/15 * * * *", t) == datetime(2024, 1, 1, 10, 15, tzinfo=UTC)
    assert cron.next_run("0 2 * * *", t) == datetime(2024, 1, 2, 2, 0, tzinfo=UTC)


def test_next_run_is_strictly_after():
    t = datetime(2024, 1, 1, 10, 15, 0, tzinfo=UTC)
    assert cron.next_run("*/15 * * * *", t) == datetime(2024, 1, 1, 10, 30, tzinfo=UTC)


def test_per_second_test_clock():
    t = datetime(2024, 1, 1, 10, 0, 3, tzinfo=UTC)
    assert cron.next_run("*/2 * * * *", t, per_second=True) == datetime(
        2024, 1, 1, 10, 0, 4, tzinfo=UTC
    )


def test_triggers_of():
    pipeline = {"autoTrigger": {"cronTrigger": {"crons": [{"expression": "* * * * *"}, {}]}}}
    assert cron.triggers_of(pipeline) == [{"expression": "* * * * *"}]
    assert cron.triggers_of({}) == []
