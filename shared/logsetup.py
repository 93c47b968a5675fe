"""One log format for every process of the stack, and the ids that tie lines together.

Text on a terminal (`12:01:35.098 scheduler  INFO  message  request=… record=…`, the service
name coloured as `docker compose up` does), JSON lines with CYCLONE_LOG_FORMAT=json
(`time`, `level`, `service`, `logger`, `message`, `request_id`, `record_id`, `exc`). The ids
live in context variables: set by the gateway per request, by shared/logcontext.py per nameko
worker (from the message headers and the call's arguments), by the worker process for its
record; every line logged meanwhile carries them, whoever logs it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Final, TextIO

from shared.envvars import Env

REQUEST_ID: ContextVar[str] = ContextVar("cyclone_request_id", default="")
RECORD_ID: ContextVar[str] = ContextVar("cyclone_record_id", default="")
IDS: dict[str, ContextVar[str]] = {"request_id": REQUEST_ID, "record_id": RECORD_ID}
# Ids of the whole process (a worker runs one record), for threads that never bound any.
PROCESS_IDS: dict[str, str] = {}
# Several nameko services in one process (shared/runner.py): each nameko worker's lines name
# its own service (shared/logcontext.py sets SERVICE), the rest the process's name.
SERVICE: ContextVar[str] = ContextVar("cyclone_service", default="")
WORKER_SERVICE_SHOWN = False

# Libraries that narrate their normal work at INFO: their warnings still show.
QUIET = ("nameko", "kombu", "amqp", "uvicorn.error", "gunicorn.error", "urllib3", "docker")
SERVICE_WIDTH = 9
COLOURS = (36, 33, 32, 35, 34, 91, 92, 93, 94, 95, 96)  # per service, stable by name
LEVEL_COLOURS = {"WARNING": 33, "ERROR": 31, "CRITICAL": 31}


def current_ids() -> dict[str, str]:
    return {name: value for name, var in IDS.items() if (value := var.get())}


@contextlib.contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    """The ids for the lines logged inside the block (an empty or None value leaves one as is)."""
    tokens = [(IDS[k], IDS[k].set(v)) for k, v in ids.items() if v]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class _Ids(logging.Filter):
    """Copies the context's ids onto each record, where the formatters find them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in IDS.items():
            if not getattr(record, name, ""):
                setattr(record, name, var.get() or PROCESS_IDS.get(name, ""))
        record.cyclone_service = SERVICE.get()
        return True


class _Noise(logging.Filter):
    """py-amqp warns about a basic.return (60, 80) reaching a channel being closed: nameko's
    mandatory RPC publish to a service not up yet gets one, and the caller has its answer
    (UndeliverableMessage) already; the line tells an operator nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "amqp" and "during closing channel" in record.getMessage())


# The password of a URL with credentials (a broker or database URL): kombu masks only the
# first node's of a `;`-separated list, a traceback may show any.
_URL_PASSWORD: Final = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s;]+:)([^@\s;]+)(@)", re.I)


def masked(text: str) -> str:
    """`text` with the password of every URL in it replaced by ********."""
    return _URL_PASSWORD.sub(r"\1********\3", text)


class TextFormatter(logging.Formatter):
    def __init__(self, service: str, colour: bool) -> None:
        super().__init__()
        self.service = service
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        stamp += f".{int(record.msecs):03d}"
        service = getattr(record, "cyclone_service", "") or self.service
        name = f"{service:<{SERVICE_WIDTH}}"
        level = f"{record.levelname:<5}"
        if self.colour:
            name = f"\x1b[{COLOURS[sum(service.encode()) % len(COLOURS)]}m{name}\x1b[0m"
            if record.levelname in LEVEL_COLOURS:
                level = f"\x1b[{LEVEL_COLOURS[record.levelname]}m{level}\x1b[0m"
        ids = " ".join(f"{k.removesuffix('_id')}={v}" for k in IDS if (v := getattr(record, k, "")))
        line = f"{stamp} {name} {level} {record.getMessage()}" + (f"  {ids}" if ids else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return masked(line)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": getattr(record, "cyclone_service", "") or self.service,
            "logger": record.name,
            "message": masked(record.getMessage()),
        }
        entry.update({k: v for k in IDS if (v := getattr(record, k, ""))})
        if record.exc_info:
            entry["exc"] = masked(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def line(service: str, message: str, **ids: str) -> str:
    """One line in the configured format, for a file another process writes too (the Local
    cloud's notes in a worker's own log file)."""
    record = logging.LogRecord(service, logging.INFO, "", 0, message, None, None)
    for key, value in ids.items():
        setattr(record, key, value)
    return handler(service).format(record) + "\n"


def handler(
    service: str, stream: TextIO | None = None, env: Mapping[str, str] | None = None
) -> logging.Handler:
    """A stream handler with the configured format (the gateway gives it to gunicorn too)."""
    env = os.environ if env is None else env
    stream = stream or sys.stderr
    out = logging.StreamHandler(stream)
    if Env(env).text("CYCLONE_LOG_FORMAT", "text").lower() == "json":
        out.setFormatter(JsonFormatter(service))
    else:
        tty = hasattr(stream, "isatty") and stream.isatty() and not env.get("NO_COLOR")
        out.setFormatter(TextFormatter(service, colour=tty))
    out.addFilter(_Ids())
    out.addFilter(_Noise())
    return out


def configure(service: str, stream: TextIO | None = None) -> logging.Handler:
    """The root logger of this process: one handler in our format, CYCLONE_LOG_LEVEL (INFO)."""
    level = Env().text("CYCLONE_LOG_LEVEL", "INFO").upper()
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    out = handler(service, stream)
    root.addHandler(out)
    root.setLevel(level)
    quiet = max(logging.WARNING, logging.getLevelName(level))
    for name in QUIET:
        logging.getLogger(name).setLevel(quiet if level != "DEBUG" else logging.DEBUG)
    logging.captureWarnings(True)  # a library's warning is a log line, in our format
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    return out
