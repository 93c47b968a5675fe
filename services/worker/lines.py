"""Output that arrives in chunks (a Docker stream, a Kubernetes exec channel) logged as whole
lines: chunks split lines anywhere, and a line longer than MAX_LINE is cut into parts."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable

from services.worker.stages.process import MAX_LINE, TAIL

log = logging.getLogger(__name__)


class LineLog:
    """Bytes in, whole lines out to `log`; after `close()` late lines are dropped, so a
    straggler never lands in a later stage. An exception from `log` is kept in `error` (for
    the caller to raise once the command is done) and reading goes on."""

    def __init__(self, log: Callable[[str], None], tail: deque[str] | None = None) -> None:
        self._log = log
        self._pending = b""
        self._lock = threading.Lock()
        self._closed = False
        self.tail: deque[str] = deque(maxlen=TAIL) if tail is None else tail
        self.error: Exception | None = None

    def feed(self, data: bytes | str) -> None:
        self._pending += data.encode() if isinstance(data, str) else data
        while True:
            cut, skip = self._pending.find(b"\n"), 1
            if cut < 0 or cut > MAX_LINE:
                if len(self._pending) < MAX_LINE:
                    return
                cut, skip = MAX_LINE, 0
            self._emit(self._pending[:cut])
            self._pending = self._pending[cut + skip :]

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = b""

    def consume(self, chunks: Iterable[bytes]) -> None:
        """Feed a whole stream (in a reader thread), then the last partial line."""
        try:
            for chunk in chunks:
                self.feed(chunk)
        except Exception as exc:  # noqa: BLE001 - the stream broke: keep what we have
            if not self._closed:
                log.warning("output stream ended early: %s", exc)
        self.flush()

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def _emit(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").removesuffix("\r")
        with self._lock:
            if self._closed:
                return
            if text.strip():
                self.tail.append(text)
            if self.error is None:
                try:
                    self._log(text)
                except Exception as exc:  # noqa: BLE001 - re-raised by the caller
                    self.error = exc
