"""Keep credentials out of the gateway's logs.

Browsers cannot set headers on a WebSocket, so the log stream accepts `?token=` (BRIEF); uvicorn
writes the path with its query into the access log and its WebSocket lines. The filter below
rewrites those lines before any handler sees them.
"""

from __future__ import annotations

import logging
import re

# token=..., ticket=... and access_token=... in a query, up to the next separator.
_QUERY_SECRET = re.compile(r"(?i)\b((?:access_)?token|ticket)=[^&\s\"']*")
MASK = "******"
LOGGERS = ("uvicorn.access", "uvicorn.error", "gunicorn.access", "gunicorn.error")


def redact(text: str) -> str:
    return _QUERY_SECRET.sub(lambda m: f"{m.group(1)}={MASK}", text)


class RedactQuerySecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging's own report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def install() -> None:
    """On every logger that may print a request's path (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQuerySecrets) for f in logger.filters):
            logger.addFilter(RedactQuerySecrets())
