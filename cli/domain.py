"""What the CLI decides without I/O: targets, exit codes, diffs, ages and stats bars.

Kept pure so each rule is tested in milliseconds (tests/unit/test_cli_domain.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Exit codes, documented in docs/cli.md. A script can tell a failed run (1) from an aborted one
# (2), from Cyclone being unreachable or broken (3), from a request the API refused (4).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ABORTED = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4
EXIT_USAGE = 64  # sysexits' EX_USAGE: click's own 2 would read as "Aborted"
EXIT_INTERRUPTED = 130

FINISHED = frozenset({"Success", "Failed", "Aborted"})
MASK = "******"
# Fields the server sets: a definition read back and applied again does not "change" them.
SERVER_FIELDS = frozenset(
    {
        "id",
        "creationTime",
        "lastUpdateTime",
        "projectID",
        "owner",
        "recentRecords",
        "recentSuccessRecords",
        "recentFailedRecords",
    }
)


class CliError(Exception):
    """A failure the CLI reports in one line on stderr, with its exit code (no traceback)."""

    exit_code = EXIT_UNREACHABLE


class BadTarget(ValueError):
    """A PROJECT/PIPELINE argument that is not one."""


@dataclass(frozen=True)
class Target:
    project: str
    pipeline: str

    def __str__(self) -> str:
        return f"{self.project}/{self.pipeline}"


def parse_target(text: str) -> Target:
    project, sep, pipeline = text.partition("/")
    if not sep or not project or not pipeline or "/" in pipeline:
        raise BadTarget(f"expected PROJECT/PIPELINE, got {text!r}")
    return Target(project, pipeline)


def exit_code_for(status: str) -> int:
    """The process's answer for a finished record: what `run --follow` and `logs --follow`
    return, so `cyclone run app/build --follow && deploy` means what it says."""
    return {"Success": EXIT_OK, "Failed": EXIT_FAILED, "Aborted": EXIT_ABORTED}.get(
        status, EXIT_UNREACHABLE
    )


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of a JSON value as (dotted path, value); lists of scalars stay whole (a command
    list reads better as one value) and lists of objects are indexed."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and any(isinstance(x, Mapping | list) for x in value):
        for i, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


@dataclass(frozen=True)
class Change:
    sign: str  # "+" added, "-" removed, "~" changed
    path: str
    before: Any = None
    after: Any = None

    def describe(self) -> str:
        if self.sign == "+":
            return f"+ {self.path}: {_show(self.after)}"
        if self.sign == "-":
            return f"- {self.path} (was {_show(self.before)})"
        return f"~ {self.path}: {_show(self.before)} -> {_show(self.after)}"


def _show(value: Any) -> str:
    return "(secret)" if value == MASK else repr(value)


def diff(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[Change]:
    """What a PUT of `wanted` changes in `stored` (as the API answered it).

    Server-set fields are ignored. A secret the API masks cannot be compared: sending a value
    there counts as a change (it replaces the stored one), sending the mask back does not.
    """
    before = {k: v for k, v in flatten(_own(stored))}
    after = {k: v for k, v in flatten(_own(wanted))}
    changes: list[Change] = []
    for path, value in after.items():
        if path not in before:
            changes.append(Change("+", path, after=value))
        elif value == MASK and before[path] == MASK:
            continue
        elif value != before[path]:
            changes.append(Change("~", path, before[path], value))
    changes.extend(Change("-", p, before=v) for p, v in before.items() if p not in after)
    return sorted(changes, key=lambda c: c.path)


def _own(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in SERVER_FIELDS}


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def age(text: str | None, now: datetime) -> str:
    """'3m ago' for a table: exact times are in `-o json`."""
    when = parse_time(text)
    if when is None:
        return "-"
    return span((now - when).total_seconds()) + " ago"


def duration(start: str | None, end: str | None, now: datetime) -> str:
    began = parse_time(start)
    if began is None:
        return "-"
    ended = parse_time(end) or now
    return span((ended - began).total_seconds())


def span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"


def size(n: int) -> str:
    """Bytes for people: 512 B, 1.5 KiB, 200.0 MiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def day_range(days: int, now: datetime) -> tuple[int, int]:
    """`startTime`/`endTime` for the last `days` whole UTC days, today included (the API counts
    whole UTC days)."""
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    start = int(today.timestamp()) - (days - 1) * 86400
    return start, int(today.timestamp()) + 86399


@dataclass(frozen=True)
class DayRow:
    day: str
    success: int
    failed: int
    aborted: int
    bar: str


def stats_rows(details: list[Mapping[str, Any]], width: int = 30) -> list[DayRow]:
    """One row per day with a bar scaled to the busiest day: '#' success, 'x' failed,
    '-' aborted, so the bar reads without colour too."""
    counts = [
        (int(d.get("success", 0)), int(d.get("failed", 0)), int(d.get("aborted", 0)))
        for d in details
    ]
    busiest = max((sum(c) for c in counts), default=0) or 1
    rows = []
    for entry, (ok, bad, stopped) in zip(details, counts, strict=True):
        day = datetime.fromtimestamp(int(entry.get("timestamp", 0)), UTC).strftime("%Y-%m-%d")
        bar = "".join(
            mark * _cells(n, busiest, width) for mark, n in (("#", ok), ("x", bad), ("-", stopped))
        )
        rows.append(DayRow(day, ok, bad, stopped, bar))
    return rows


def _cells(n: int, busiest: int, width: int) -> int:
    """At least one cell for any non-zero count: a single failure must show."""
    return 0 if n == 0 else max(1, round(n * width / busiest))
