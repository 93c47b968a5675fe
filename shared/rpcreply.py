"""The queues RPC answers come back on (`rpc.reply-<caller>-<uuid>`), made transient.

nameko declares a caller's reply queue durable, under one name for the life of the process.
On a cluster, a durable classic queue lives on one node: when that node goes, the caller's
redeclaration is refused (404 "home node ... is down") until the node is back, so every
call the caller makes meanwhile goes unanswered, though the callee carried it out. A
non-durable queue goes with its node instead, and the caller's reconnection declares it
again on the node it reached (docs/architecture.md "Failover, client by client").

Not auto-delete: when only the caller's connection drops (a broker restart closing every
connection, a network blip), an answer published meanwhile waits in the queue for the
caller's reconnection; an auto-delete queue would have gone with the last consumer, and the
answer with it. Unused, it expires as nameko's does (`x-expires`, 5 minutes). Answers in
flight on a lost node are lost either way: the scheduler asks a start again
(shared/deadline.again_when_silent).

RabbitMQ 4 deprecates non-exclusive transient queues (`transient_nonexcl_queues`, still
permitted by default); an exclusive queue would go with a dropped connection, so it is not
used here.

A call also carries the ids bound where it is made (shared/logsetup.bound) over those of the
nameko worker whose proxy makes it: a record launched from a green thread of the upkeep's
worker carries its own record and request ids to the cloud service, not the upkeep's none.
"""

from __future__ import annotations

import uuid
from typing import Any

from kombu import Queue
from nameko import rpc as nameko_rpc
from nameko.standalone.rpc import SingleThreadedReplyListener

from shared import logsetup


def reply_queue(listener: nameko_rpc.ReplyListener) -> Queue:
    """A fresh reply queue for `listener`'s container, named and bound as nameko does; sets
    the listener's routing key."""
    key = str(uuid.uuid4())
    listener.routing_key = key
    return Queue(
        nameko_rpc.RPC_REPLY_QUEUE_TEMPLATE.format(listener.container.service_name, key),
        exchange=nameko_rpc.get_rpc_exchange(listener.container.config),
        routing_key=key,
        durable=False,
        queue_arguments={"x-expires": nameko_rpc.RPC_REPLY_QUEUE_TTL},
    )


class _Transient:
    """nameko's `ReplyListener.setup` with `reply_queue`: the queue is made before it is
    registered (a standalone proxy declares its queue as it registers)."""

    queue: Queue
    queue_consumer: Any  # the listener's (nameko's QueueConsumer, or the standalone one)

    def setup(self) -> None:
        self.queue = reply_queue(self)
        self.queue_consumer.register_provider(self)


class ReplyListener(_Transient, nameko_rpc.ReplyListener):  # type: ignore[misc]  # untyped
    """A service's (nameko's `RpcProxy`)."""


class StandaloneReplyListener(_Transient, SingleThreadedReplyListener):  # type: ignore[misc]
    """The gateway's and tools.ping's (nameko's standalone `ClusterRpcProxy`)."""


class _MethodProxy(nameko_rpc.MethodProxy):  # type: ignore[misc]
    def get_message_headers(self, worker_ctx: Any) -> dict[str, object]:
        headers: dict[str, object] = super().get_message_headers(worker_ctx)
        bound = logsetup.current_ids()
        headers.update((self._get_header_name(k), v) for k, v in bound.items())
        return headers


class _ServiceProxy(nameko_rpc.ServiceProxy):  # type: ignore[misc]
    def __getattr__(self, name: str) -> _MethodProxy:
        return _MethodProxy(
            self.worker_ctx, self.service_name, name, self.reply_listener, **self.options
        )


class RpcProxy(nameko_rpc.RpcProxy):  # type: ignore[misc]
    """nameko's `RpcProxy`, its answers on a transient reply queue, the ids bound where a
    call is made in its headers."""

    rpc_reply_listener = ReplyListener()

    def get_dependency(self, worker_ctx: Any) -> _ServiceProxy:
        return _ServiceProxy(
            worker_ctx, self.target_service, self.rpc_reply_listener, **self.options
        )
