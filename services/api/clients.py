"""The only gateway code that talks to the bus: pooled nameko RPC and event dispatch.

The gateway runs on asyncio; nameko's standalone client is blocking and not thread-safe
(one proxy shared by threads breaks, STACK-NOTES), so each call borrows a started proxy from
a pool and runs in a dedicated thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError
from nameko.exceptions import RpcTimeout
from nameko.standalone.rpc import ClusterRpcProxy

from shared import logsetup, tracing
from shared.contracts import rpc
from shared.publish import EventDispatcher

log = logging.getLogger(__name__)

# What the broker connection raises when RabbitMQ (or our vhost) is gone, as opposed to a
# service's own error (RemoteError) or silence (RpcTimeout).
BROKER_ERRORS = (AMQPError, KombuError, OSError)


class BusUnavailable(Exception):
    """The broker could not be reached: the gateway answers 503, the client may retry."""


class _ProxyPool:
    def __init__(self, config: dict[str, Any], timeout: float) -> None:
        self._config = config
        self._timeout = timeout
        self._idle: queue.LifoQueue[ClusterRpcProxy] = queue.LifoQueue()

    def call(
        self, service: str, method: str, args: tuple, kwargs: dict[str, Any], ids: dict[str, str]
    ) -> Any:
        try:
            runner = self._idle.get_nowait()
        except queue.Empty:
            runner = ClusterRpcProxy(self._config, timeout=self._timeout)
            try:
                runner.start()
            except BROKER_ERRORS as exc:
                raise BusUnavailable(f"{type(exc).__name__}: {exc}") from exc
        # The proxy sends its context data as headers at each call; a pooled proxy serves one
        # call at a time, so it takes this request's ids now (shared/logcontext.py reads them).
        context = runner._worker_ctx.data
        for key in (*logsetup.IDS, *tracing.KEYS):
            context.pop(key, None)
        context.update(ids)
        try:
            result = getattr(getattr(runner._proxy, service), method)(*args, **kwargs)
        except BROKER_ERRORS as exc:
            self._discard(runner)
            raise BusUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            # A proxy that saw a timeout or a broken connection may get stale replies: drop it.
            self._discard(runner)
            raise
        self._idle.put(runner)
        return result

    @staticmethod
    def _discard(runner: ClusterRpcProxy) -> None:
        try:
            runner.stop()
        except Exception:
            log.debug("closing a broken RPC proxy failed", exc_info=True)

    def close(self) -> None:
        while True:
            try:
                self._discard(self._idle.get_nowait())
            except queue.Empty:
                return


class Bus:
    """RPC calls and event dispatch for a process that does not run under nameko."""

    def __init__(self, nameko_config: dict[str, Any], timeout: float, threads: int = 16) -> None:
        self._config = nameko_config
        self._timeout = timeout
        self._pools: dict[float, _ProxyPool] = {}
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="bus")
        self._dispatch = EventDispatcher(nameko_config)

    def _pool(self, timeout: float) -> _ProxyPool:
        if timeout not in self._pools:
            self._pools[timeout] = _ProxyPool(self._config, timeout)
        return self._pools[timeout]

    async def call(
        self, service: str, method: str, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        pool = self._pool(timeout or self._timeout)
        loop = asyncio.get_running_loop()
        with tracing.child(f"{service}.{method}", tracing.CLIENT):
            # the executor's thread does not see this task's context: the ids go along
            ids = logsetup.current_ids() | tracing.inject()
            return await loop.run_in_executor(
                self._executor, pool.call, service, method, args, kwargs, ids
            )

    async def dispatch(self, source: str, event_type: str, payload: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        with tracing.child(f"{source}.{event_type} publish", tracing.PRODUCER):
            ids = logsetup.current_ids() | tracing.inject()
            try:
                await loop.run_in_executor(
                    self._executor, self._dispatch, source, event_type, payload, ids
                )
            except BROKER_ERRORS as exc:
                raise BusUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def ping_all(self, services: Iterable[str], timeout: float) -> dict[str, str]:
        """`ok` or the reason, per service, all asked at once and bounded by `timeout`."""
        names = list(services)

        async def one(name: str) -> str:
            try:
                reply = await asyncio.wait_for(
                    self.call(name, rpc.PING, timeout=timeout), timeout + 0.5
                )
            except (TimeoutError, RpcTimeout):
                return f"no answer within {timeout:g}s"
            except Exception as exc:  # noqa: BLE001 - any failure is a failed check
                return f"{type(exc).__name__}: {exc}"
            return "ok" if isinstance(reply, dict) and reply.get("status") == "ok" else str(reply)

        results = await asyncio.gather(*(one(n) for n in names))
        return dict(zip(names, results, strict=True))

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
