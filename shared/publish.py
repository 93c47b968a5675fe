"""Publishing nameko events from a process that does not run under nameko (gateway, worker)."""

from __future__ import annotations

import threading
from typing import Any

from kombu import Connection
from nameko.events import get_event_exchange
from nameko.standalone.events import event_dispatcher


class EventDispatcher:
    """nameko declares an event exchange only when a handler for it starts; publishing before
    that fails with 404, so the exchange is declared once per source first."""

    def __init__(self, nameko_config: dict[str, Any]) -> None:
        self._config = nameko_config
        self._dispatch = event_dispatcher(nameko_config)
        self._declared: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, source: str, event_type: str, payload: dict[str, Any]) -> None:
        if source not in self._declared:
            with self._lock, Connection(self._config["AMQP_URI"]) as conn:
                get_event_exchange(source, self._config)(conn.default_channel).declare()
                self._declared.add(source)
        self._dispatch(source, event_type, payload)
