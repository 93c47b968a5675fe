"""nameko dependencies of the scheduler: the record store, built once per container."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nameko.extensions import DependencyProvider

from services.scheduler import settings
from services.scheduler.counters import StatsCounters
from services.scheduler.cron_store import CronStore
from services.scheduler.runs import Cloud, Limits, Runs
from services.scheduler.store import RecordStore
from shared import mongo
from shared.contracts import rpc
from shared.crypto import SecretBox
from shared.deadline import bounded
from shared.workertoken import WorkerTokens, tokens_or_none


@dataclass(frozen=True)
class RunsParts:
    store: RecordStore
    limits: Limits
    box: SecretBox | None
    crons: CronStore
    counters: StatsCounters
    tokens: WorkerTokens | None

    def build(self, cloud_rpc: Any, publish: Callable[[str, dict[str, Any]], None]) -> Runs:
        """A `Runs` for one worker: the service's cloud proxy and event dispatcher."""
        within = self.limits.cloud_call_timeout
        cloud = Cloud(
            start=bounded(
                getattr(cloud_rpc, rpc.START_WORKER),
                within,
                "the cloud service did not start a worker",
            ),
            stop=bounded(
                getattr(cloud_rpc, rpc.STOP_WORKER),
                within,
                "the cloud service did not stop a worker",
            ),
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
        self.parts = RunsParts(store, limits, box, crons, counters, tokens)

    def stop(self) -> None:
        self.client.close()

    def kill(self) -> None:
        self.client.close()

    def get_dependency(self, worker_ctx: Any) -> RunsParts:
        return self.parts
