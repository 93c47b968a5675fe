"""nameko's `@rpc`, with the service's RPC queue (`rpc-<service>`) declared as a quorum queue
when the broker is a cluster (shared/brokers.py). Every service's RPC methods use this one,
so a service's methods share one queue of one type."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

from kombu import Queue
from nameko.rpc import Rpc, RpcConsumer

from shared import brokers

F = TypeVar("F", bound=Callable[..., Any])


class _RpcConsumer(RpcConsumer):  # type: ignore[misc]  # nameko ships no type information
    queue: Queue

    def setup(self) -> None:
        super().setup()  # nameko makes the queue and registers it; it is declared on consume
        self.queue = brokers.durable(self.queue, brokers.quorum_in(self.container.config))


class _Rpc(Rpc):  # type: ignore[misc]  # nameko ships no type information
    rpc_consumer = _RpcConsumer()


@overload
def rpc(method: F, /) -> F: ...
@overload
def rpc(
    *,
    expected_exceptions: type[Exception] | tuple[type[Exception], ...] = ...,
    sensitive_arguments: str | Sequence[str] = ...,
) -> Callable[[F], F]: ...
def rpc(*args: Any, **kwargs: Any) -> Any:
    """`@rpc` or `@rpc(expected_exceptions=..., sensitive_arguments=...)`, typed: the decorated
    method keeps its signature for the type checker (nameko's own decorator is untyped)."""
    return _Rpc.decorator(*args, **kwargs)
