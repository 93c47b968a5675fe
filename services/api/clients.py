"""The only gateway code that talks to the bus: pooled nameko RPC and event dispatch, and a
typed client per service.

The gateway runs on asyncio; nameko's standalone client is blocking and not thread-safe
(one proxy shared by threads breaks, STACK-NOTES), so each call borrows a started proxy from
a pool and runs in a dedicated thread pool.

Resources and application services call other services through `SchedulerClient`,
`CloudClient`, `ScmClient` and `LogsClient`, whose methods are the Protocols of
shared/contracts/rpc.py made async (same names, parameters and answers;
tests/unit/test_rpc_clients.py holds them to it), so a call is checked against the contract
instead of being a method name and loose arguments.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Final

from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError
from nameko.exceptions import RpcTimeout
from nameko.standalone.rpc import ClusterRpcProxy

from shared import logsetup, tracing
from shared.contracts import artifacts as art
from shared.contracts import rpc, services
from shared.contracts.catalog import Cloud, Project
from shared.contracts.records import RecordView, Stats
from shared.publish import EventDispatcher
from shared.rpcreply import StandaloneReplyListener

log = logging.getLogger(__name__)

# What the broker connection raises when RabbitMQ (or our vhost) is gone, as opposed to a
# service's own error (RemoteError) or silence (RpcTimeout).
BROKER_ERRORS = (AMQPError, KombuError, OSError)


class BusUnavailable(Exception):
    """The broker could not be reached: the gateway answers 503, the client may retry."""


class _ProxyPool:
    def __init__(self, config: dict[str, object], timeout: float) -> None:
        self._config = config
        self._timeout = timeout
        self._idle: queue.LifoQueue[ClusterRpcProxy] = queue.LifoQueue()

    def call(
        self,
        service: str,
        method: str,
        args: tuple[object, ...],
        kwargs: dict[str, object],
        ids: dict[str, str],
    ) -> Any:
        try:
            runner = self._idle.get_nowait()
        except queue.Empty:
            runner = ClusterRpcProxy(
                self._config, timeout=self._timeout, reply_listener_cls=StandaloneReplyListener
            )
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

    def __init__(self, nameko_config: dict[str, object], timeout: float, threads: int = 16) -> None:
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

    async def dispatch(self, source: str, event_type: str, payload: Mapping[str, object]) -> None:
        loop = asyncio.get_running_loop()
        with tracing.child(f"{source}.{event_type} publish", tracing.PRODUCER):
            ids = logsetup.current_ids() | tracing.inject()
            try:
                await loop.run_in_executor(
                    self._executor, self._dispatch, source, event_type, dict(payload), ids
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


# --- a typed client per service -------------------------------------------------------------

SCM_TIMEOUT: Final = 60.0  # an SCM call may take a few requests of up to 15 s each


class _Client:
    """Calls to one service through the bus (looked up at each call: the app builds its
    clients before start-up opens the bus)."""

    service: ClassVar[str]

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def _call(self, method: str, *args: object, timeout: float | None = None) -> Any:
        return await self._bus.call(self.service, method, *args, timeout=timeout)


class SchedulerClient(_Client):
    """shared.contracts.rpc.SchedulerRpc."""

    service = services.SCHEDULER

    async def create_record(self, request: rpc.RecordRequest) -> RecordView:
        return await self._call(rpc.CREATE_RECORD, request)

    async def get_record(self, record_id: str) -> RecordView:
        return await self._call(rpc.GET_RECORD, record_id)

    async def list_records(self, pipeline_id: str, start: int, limit: int) -> rpc.Page:
        return await self._call(rpc.LIST_RECORDS, pipeline_id, start, limit)

    async def delete_record(self, record_id: str) -> None:
        await self._call(rpc.DELETE_RECORD, record_id)

    async def abort_record(self, record_id: str) -> RecordView:
        return await self._call(rpc.ABORT_RECORD, record_id)

    async def recent_records(
        self, pipeline_ids: list[str], counts: dict[str, int]
    ) -> dict[str, dict[str, list[RecordView]]]:
        return await self._call(rpc.RECENT_RECORDS, pipeline_ids, counts)

    async def stats(self, scope: str, scope_id: str, start: int, end: int) -> Stats:
        return await self._call(rpc.STATS, scope, scope_id, start, end)

    async def get_job(self, record_id: str, token: str) -> rpc.Job:
        return await self._call(rpc.GET_JOB, record_id, token)

    async def rerun_record(
        self, record_id: str, start_from: str, project: Project, owner: str
    ) -> RecordView:
        return await self._call(rpc.RERUN_RECORD, record_id, start_from, project, owner)


class CloudClient(_Client):
    """shared.contracts.rpc.CloudRpc."""

    service = services.CLOUD

    async def create_cloud(self, doc: Cloud) -> Cloud:
        return await self._call(rpc.CREATE_CLOUD, doc)

    async def get_cloud(self, name: str) -> Cloud:
        return await self._call(rpc.GET_CLOUD, name)

    async def list_clouds(self) -> list[Cloud]:
        return await self._call(rpc.LIST_CLOUDS)

    async def replace_cloud(self, name: str, doc: Cloud) -> Cloud:
        return await self._call(rpc.REPLACE_CLOUD, name, doc)

    async def delete_cloud(self, name: str) -> None:
        await self._call(rpc.DELETE_CLOUD, name)

    async def ping_cloud(self, name: str) -> rpc.PingResult:
        return await self._call(rpc.PING_CLOUD, name)

    async def start_worker(
        self,
        record_id: str,
        project: str,
        pipeline: str,
        placement: rpc.Placement,
        job: rpc.HandedJob | None = None,
    ) -> rpc.WorkerInfo:
        return await self._call(rpc.START_WORKER, record_id, project, pipeline, placement, job)

    async def stop_worker(self, record_id: str) -> bool:
        return await self._call(rpc.STOP_WORKER, record_id)

    async def list_workers(self, cloud: str | None = None) -> list[rpc.WorkerInfo]:
        return await self._call(rpc.LIST_WORKERS, cloud)


class ScmClient(_Client):
    """shared.contracts.rpc.ScmRpc. Calls that reach the SCM itself wait SCM_TIMEOUT."""

    service = services.SCM

    async def _scm(self, method: str, *args: object) -> Any:
        return await self._call(method, *args, timeout=SCM_TIMEOUT)

    async def svn_repo_info(self, url: str, username: str, password: str) -> rpc.SvnRepoInfo:
        return await self._call(rpc.SVN_REPO_INFO, url, username, password)

    async def receive_webhook(self, delivery: rpc.WebhookDelivery) -> rpc.WebhookOutcome:
        return await self._call(rpc.RECEIVE_WEBHOOK, delivery)

    async def scm_check(self, scm: rpc.ScmAccount) -> dict[str, str]:
        return await self._scm(rpc.SCM_CHECK, scm)

    async def scm_repos(self, scm: rpc.ScmAccount) -> list[rpc.RepoItem]:
        return await self._scm(rpc.SCM_REPOS, scm)

    async def scm_branches(self, scm: rpc.ScmAccount, repo: str) -> list[str]:
        return await self._scm(rpc.SCM_BRANCHES, scm, repo)

    async def scm_tags(self, scm: rpc.ScmAccount, repo: str) -> list[str]:
        return await self._scm(rpc.SCM_TAGS, scm, repo)

    async def scm_template_type(self, scm: rpc.ScmAccount, repo: str) -> str:
        return await self._scm(rpc.SCM_TEMPLATE_TYPE, scm, repo)

    async def scm_dockerfiles(self, scm: rpc.ScmAccount, repo: str) -> list[str]:
        return await self._scm(rpc.SCM_DOCKERFILES, scm, repo)

    async def create_webhook(
        self, scm: rpc.ScmAccount, repo: str, url: str, secret: str, events: list[str]
    ) -> str:
        return await self._scm(rpc.CREATE_WEBHOOK, scm, repo, url, secret, events)

    async def update_webhook(
        self, scm: rpc.ScmAccount, repo: str, hook_id: str, url: str, secret: str, events: list[str]
    ) -> str:
        return await self._scm(rpc.UPDATE_WEBHOOK, scm, repo, hook_id, url, secret, events)

    async def delete_webhook(self, scm: rpc.ScmAccount, repo: str, hook_id: str) -> None:
        await self._scm(rpc.DELETE_WEBHOOK, scm, repo, hook_id)


class LogsClient(_Client):
    """shared.contracts.rpc.LogsRpc and ArtifactReadsRpc (the gateway's artifact reads)."""

    service = services.LOGS

    async def read_log(
        self, record_id: str, stage: str | None, task: str | None, after: int, limit: int
    ) -> rpc.LogChunk:
        return await self._call(rpc.READ_LOG, record_id, stage, task, after, limit)

    async def log_stages(self, record_id: str) -> list[str]:
        return await self._call(rpc.LOG_STAGES, record_id)

    async def list_artifacts(self, record_id: str) -> list[art.Artifact]:
        return await self._call(art.LIST, record_id)

    async def artifact_info(self, record_id: str, path: str) -> art.Artifact:
        return await self._call(art.INFO, record_id, path)

    async def read_artifact(self, record_id: str, file_id: str, offset: int, length: int) -> str:
        """`length` bytes from `offset` of a kept file, base64-encoded."""
        return await self._call(art.READ, record_id, file_id, offset, length)


class Clients:
    """One client per service, over one bus."""

    def __init__(self, bus: Bus) -> None:
        self.scheduler = SchedulerClient(bus)
        self.cloud = CloudClient(bus)
        self.scm = ScmClient(bus)
        self.logs = LogsClient(bus)
