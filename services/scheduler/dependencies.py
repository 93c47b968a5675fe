"""nameko dependencies of the scheduler: the record store, built once per container, and the
green threads its calls to the cloud service run in."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import eventlet
from amqp.exceptions import AMQPError
from eventlet import greenthread
from eventlet.greenpool import GreenPool
from kombu.exceptions import KombuError
from nameko.extensions import DependencyProvider

from services.scheduler import settings
from services.scheduler.counters import StatsCounters
from services.scheduler.cron_store import CronStore
from services.scheduler.runs import CallCut, Cloud, Limits, OneAtATime, Publish, Runs
from services.scheduler.store import RecordStore
from shared import mongo, rpcclients
from shared.crypto import SecretBox
from shared.deadline import again_when_silent, bounded
from shared.workertoken import WorkerTokens, tokens_or_none

log = logging.getLogger(__name__)

# What a call raises when its broker connection breaks under it (not a silent peer: that is
# shared.deadline's TimeoutError)
BROKER_ERRORS = (AMQPError, KombuError, ConnectionError)


def cut_as_call_cut(call: Callable[..., Any]) -> Callable[..., Any]:
    """`call`, raising CallCut when the broker connection broke during it."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except BROKER_ERRORS as exc:
            raise CallCut(f"{type(exc).__name__}: {exc}") from exc

    return guarded


@dataclass(frozen=True)
class RunsParts:
    store: RecordStore
    limits: Limits
    box: SecretBox | None
    crons: CronStore
    counters: StatsCounters
    tokens: WorkerTokens | None
    spawn: Callable[[Callable[[], object]], None]
    one_dispatch: OneAtATime = field(default_factory=OneAtATime)

    def build(self, cloud_rpc: object, publish: Publish) -> Runs:
        """A `Runs` for one worker: the service's cloud proxy (seen as its Protocol) and
        event dispatcher."""
        within = self.limits.cloud_call_timeout
        service = rpcclients.cloud(cloud_rpc)
        cloud = Cloud(
            # a start is idempotent on the cloud service: a second ask answers with the worker
            # the first started, when a failover lost the first answer
            start=cut_as_call_cut(
                again_when_silent(
                    bounded(
                        service.start_worker, within, "the cloud service did not start a worker"
                    ),
                    log.warning,
                )
            ),
            stop=bounded(service.stop_worker, within, "the cloud service did not stop a worker"),
            spawn=self.spawn,
        )
        return Runs(
            self.store,
            cloud,
            publish,
            self.limits,
            self.box,
            self.crons,
            self.counters,
            tokens=self.tokens,
            one_dispatch=self.one_dispatch,
        )


class RunsProvider(DependencyProvider):
    """Opens Mongo once, makes indexes and dispatch slots, hands workers the parts."""

    def setup(self) -> None:
        cfg = mongo.settings_of(self.container)
        self.client = mongo.connect(cfg)
        store = RecordStore(self.client[cfg.mongo_db])
        store.ensure_indexes()
        limits = settings.limits()
        store.ensure_slots(limits.max_running)
        box = SecretBox(cfg.secret_key) if cfg.secret_key else None
        crons = CronStore(self.client[cfg.mongo_db])
        crons.ensure_indexes()
        counters = StatsCounters(self.client[cfg.mongo_db])
        counters.ensure_indexes()
        tokens = tokens_or_none(cfg.secret_key)
        self.limits = limits
        self.calls = GreenPool()
        self.parts = RunsParts(store, limits, box, crons, counters, tokens, self.calls.spawn_n)

    def stop(self) -> None:
        """Let the cloud calls under way end (each is bounded) before the store closes."""
        with eventlet.Timeout(self.limits.cloud_call_timeout + 2, False):
            self.calls.waitall()
        self.client.close()

    def kill(self) -> None:
        for call in list(self.calls.coroutines_running):
            greenthread.kill(call)
        self.client.close()

    def get_dependency(self, worker_ctx: Any) -> RunsParts:
        return self.parts
