"""Stats maths: per-day buckets and the overview, from counts grouped by (day, status)."""

from __future__ import annotations

from typing import Any

DAY = 86400


def day_buckets(start: int, end: int) -> list[int]:
    """UTC midnights of every day from `start`'s to `end`'s, inclusive."""
    if end < start:
        return []
    first, last = start - start % DAY, end - end % DAY
    return list(range(first, last + 1, DAY))


def build(start: int, end: int, counts: list[tuple[int, str, int]]) -> dict[str, Any]:
    """`counts` are (day, status, n) for records whose startTime is within [start, end]."""
    details = {
        day: {"timestamp": day, "success": 0, "failed": 0, "aborted": 0}
        for day in day_buckets(start, end)
    }
    total = success = failed = aborted = 0
    for day, status, n in counts:
        total += n
        key = {"Success": "success", "Failed": "failed", "Aborted": "aborted"}.get(status)
        if key is None:
            continue
        if key == "success":
            success += n
        elif key == "failed":
            failed += n
        else:
            aborted += n
        if day in details:
            details[day][key] += n
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
