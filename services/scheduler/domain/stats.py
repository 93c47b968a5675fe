"""Stats maths: per-day buckets and the overview, from counts grouped by (day, status)."""

from __future__ import annotations

from shared.contracts.records import RecordStatus, Stats, StatsDay

DAY = 86400


def day_buckets(start: int, end: int) -> list[int]:
    """UTC midnights of every day from `start`'s to `end`'s, inclusive."""
    if end < start:
        return []
    first, last = start - start % DAY, end - end % DAY
    return list(range(first, last + 1, DAY))


def build(start: int, end: int, counts: list[tuple[int, str, int]]) -> Stats:
    """`counts` are (day, status, n) for records whose startTime is within [start, end]."""
    details: dict[int, StatsDay] = {
        day: {"timestamp": day, "success": 0, "failed": 0, "aborted": 0}
        for day in day_buckets(start, end)
    }
    # A count of a day outside the range goes to the overview only (this bucket is dropped).
    unbucketed: StatsDay = {"timestamp": -1, "success": 0, "failed": 0, "aborted": 0}
    total = success = failed = aborted = 0
    for day, status, n in counts:
        total += n
        bucket = details.get(day, unbucketed)
        if status == RecordStatus.SUCCESS:
            success += n
            bucket["success"] += n
        elif status == RecordStatus.FAILED:
            failed += n
            bucket["failed"] += n
        elif status == RecordStatus.ABORTED:
            aborted += n
            bucket["aborted"] += n
    ratio = f"{100.0 * success / total:.2f}%" if total else "0.00%"
    return {
        "overview": {
            "total": total,
            "success": success,
            "failed": failed,
            "aborted": aborted,
            "successRatio": ratio,
        },
        "details": list(details.values()),
    }
