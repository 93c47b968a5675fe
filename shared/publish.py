"""Publishing nameko events from a process that does not run under nameko (gateway, worker)."""

from __future__ import annotations

import threading
from typing import Any

from kombu import Connection
from nameko import serialization
from nameko.amqp.publish import Publisher
from nameko.constants import AMQP_SSL_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY
from nameko.events import get_event_exchange
from nameko.messaging import HEADER_PREFIX


class EventDispatcher:
    """nameko declares an event exchange only when a handler for it starts; publishing before
    that fails with 404, so the exchange is declared once per source first. `ids` (request and
    record) go as nameko context headers, as a nameko service's own dispatch sends them, so the
    handlers' log lines carry them (shared/logcontext.py)."""

    def __init__(self, nameko_config: dict[str, Any]) -> None:
        self._config = nameko_config
        serializer, _ = serialization.setup(nameko_config)
        self._publisher = Publisher(
            nameko_config["AMQP_URI"],
            serializer=serializer,
            ssl=nameko_config.get(AMQP_SSL_CONFIG_KEY),
            login_method=nameko_config.get(LOGIN_METHOD_CONFIG_KEY),
        )
        self._declared: set[str] = set()
        self._lock = threading.Lock()

    def __call__(
        self,
        source: str,
        event_type: str,
        payload: dict[str, Any],
        ids: dict[str, str] | None = None,
    ) -> None:
        exchange = get_event_exchange(source, self._config)
        if source not in self._declared:
            with self._lock, Connection(self._config["AMQP_URI"]) as conn:
                exchange(conn.default_channel).declare()
                self._declared.add(source)
        headers = {f"{HEADER_PREFIX}.{k}": v for k, v in (ids or {}).items()}
        self._publisher.publish(payload, exchange=exchange, routing_key=event_type, headers=headers)
