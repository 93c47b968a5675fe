"""The one time format of the API: RFC 3339, UTC, milliseconds, `Z`."""

from datetime import UTC, datetime


def now() -> datetime:
    """Current UTC time truncated to milliseconds (what MongoDB stores)."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def rfc3339(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse(text: object) -> datetime | None:
    """An RFC 3339 time as rfc3339() writes it (or with an offset); None for anything else."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
