"""One broker or a cluster: the node list of CYCLONE_AMQP_URI and the type of durable queues.

`CYCLONE_AMQP_URI` may name several RabbitMQ nodes of one cluster, `;`-separated (kombu's
failover form): every client connects to the first that answers and moves to the next when
its node goes. The durable queues the services consume (RPC and event-handler queues, the
log ingest queue, retry and dead-letter queues) are then quorum queues, replicated across
the nodes: `CYCLONE_QUORUM_QUEUES` = `on` / `off`, default on exactly when the URI names
several nodes. Every process that declares a queue must make the same choice (RabbitMQ
refuses a declaration whose type differs from the queue's), so the cloud service hands the
resolved value to the workers it starts (`worker_env`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlsplit

from shared.envvars import Env

if TYPE_CHECKING:  # kombu is not imported by what only reads the URL (the launcher)
    from kombu import Queue

QUORUM_ENV: Final = "CYCLONE_QUORUM_QUEUES"
QUORUM_CONFIG_KEY: Final = "QUORUM_QUEUES"  # in the nameko config (shared/config.py)
QUORUM_ARGUMENTS: Final = {"x-queue-type": "quorum"}
ON, OFF = "on", "off"


def nodes(amqp_uri: str) -> list[str]:
    """The URLs of `amqp_uri`, in order (one for a single broker)."""
    return [part.strip() for part in amqp_uri.split(";") if part.strip()]


def vhost_of(amqp_uri: str) -> str:
    """The vhost the URI names (every node's URL names the same one), `/` when none."""
    path = urlsplit(nodes(amqp_uri)[0]).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def quorum_wanted(env: Mapping[str, str], amqp_uri: str) -> bool:
    """CYCLONE_QUORUM_QUEUES, or whether the URI names a cluster (several nodes)."""
    settings = Env(env)
    if settings.is_set(QUORUM_ENV):
        return settings.flag(QUORUM_ENV, False)
    return len(nodes(amqp_uri)) > 1


def quorum_in(config: Mapping[str, object]) -> bool:
    """The choice as a nameko service's config carries it."""
    return bool(config.get(QUORUM_CONFIG_KEY))


def durable(queue: Queue, quorum: bool) -> Queue:
    """`queue` as it must be declared: a copy with the quorum type when `quorum`."""
    if not quorum:
        return queue
    made = copy.copy(queue)
    made.queue_arguments = {**(queue.queue_arguments or {}), **QUORUM_ARGUMENTS}  # type: ignore[attr-defined]  # kombu sets it from a table, undeclared
    return made
