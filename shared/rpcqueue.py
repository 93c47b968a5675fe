"""nameko's `@rpc`, with the service's RPC queue (`rpc-<service>`) declared as a quorum queue
when the broker is a cluster (shared/brokers.py). Every service's RPC methods use this one,
so a service's methods share one queue of one type."""

from __future__ import annotations

from nameko.rpc import Rpc, RpcConsumer

from shared import brokers


class _RpcConsumer(RpcConsumer):
    def setup(self) -> None:
        super().setup()  # nameko makes the queue and registers it; it is declared on consume
        self.queue = brokers.durable(self.queue, brokers.quorum_in(self.container.config))


class _Rpc(Rpc):
    rpc_consumer = _RpcConsumer()


rpc = _Rpc.decorator
