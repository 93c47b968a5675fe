"""Workers across drivers: start, stop, list, and each exit reported once and stored.

Plain code over a driver per cloud and the store (no nameko, no pymongo), shared by all
entrypoints of one service container. The built-in drivers (the host's `local` cloud) exist
from the start; a stored cloud gets its own driver instance, made by the factory of its kind
(its backend's, services/cloud/backends), when a worker first starts in it (or is adopted
after a restart), so its workers carry its name.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from services.cloud import backends, domain
from services.cloud.backends.base import (
    Driver,
    DriverFactory,
    ExitReport,
    SavedWorker,
    StoredWorker,
)
from shared import metrics
from shared.contracts.errors import CapacityExceeded, Conflict, InvalidRequest
from shared.contracts.events import WorkerExited
from shared.contracts.rpc import HandedJob, Job, Placement, WorkerInfo
from shared.timefmt import now, rfc3339

log = logging.getLogger(__name__)


class Store(Protocol):
    """What the supervisor needs of `store.WorkerStore`."""

    def started(self, saved: SavedWorker, cloud: str, driver: str, host: str) -> None: ...
    def ended(self, record_id: str, exit_code: int | None, reason: str, at: datetime) -> None: ...
    def running(self, driver: str, host: str) -> list[SavedWorker]: ...
    def running_worker(self, record_id: str) -> StoredWorker | None: ...
    def delete(self, record_ids: Iterable[str]) -> None: ...


Lookup = Callable[[str], Mapping[str, Any] | None]  # the stored cloud of a name, if any


def _no_stored_clouds(name: str) -> None:
    return None


class Supervisor:
    def __init__(
        self,
        drivers: Sequence[Driver],
        store: Store,
        host: str,
        clock: Callable[[], datetime] = now,
        *,
        wall: Callable[[], float] = time.time,
        factories: Mapping[str, DriverFactory] | None = None,
        lookup: Lookup = _no_stored_clouds,
    ) -> None:
        self.drivers = {driver.cloud: driver for driver in drivers}
        self._builtin = frozenset(self.drivers)
        self._factories = dict(factories or {})
        self._lookup = lookup
        self.store = store
        self.host = host
        self._clock = clock
        self._wall = wall  # to judge a handed job's age by (Unix seconds, as it is sent)
        self._pending: list[ExitReport] = []  # ended, not yet published and stored
        self._start_lock = threading.Lock()  # green under eventlet's monkey patching

    def resume(self) -> None:
        """Adopt the workers this host's drivers started before a restart, each by its cloud."""
        kinds = {driver.kind for driver in self.drivers.values()} | set(self._factories)
        for kind in sorted(kinds):
            by_cloud: dict[str, list[SavedWorker]] = defaultdict(list)
            for saved in self.store.running(kind, self.host):
                by_cloud[saved.cloud or domain.LOCAL].append(saved)
            for cloud, saved_workers in by_cloud.items():
                try:
                    driver = self._serving(cloud, kind)
                except (Conflict, InvalidRequest) as exc:
                    log.error(
                        "cannot adopt %d workers of cloud %s: %s", len(saved_workers), cloud, exc
                    )
                    continue
                driver.adopt(saved_workers)

    def start(
        self,
        record_id: str,
        project: str,
        pipeline: str,
        placement: Placement | None,
        handed: HandedJob | None = None,
    ) -> WorkerInfo:
        """Idempotent, the record id being the request's: a record with a live worker (in any
        cloud, started by any replica of the service) gets that worker's info. The job sent
        with the start goes to a driver that can hand it to its worker while it is fresh
        (domain.job_fresh); otherwise the worker asks for it."""
        domain.check_record_id(record_id)
        name = (placement or {}).get("cloudName")
        with self._start_lock:  # also keeps a cloud from being deleted while we start in it
            cloud, kind = backends.driver_for(name, self._lookup(name) if name else None)
            driver = self._serving(cloud, kind)
            for known in list(self.drivers.values()):
                for info in known.list():
                    if info["recordID"] == record_id:
                        return info
            stored = self.store.running_worker(record_id)
            if stored is not None and stored.host != self.host:
                return _info_of(stored.saved)  # another replica started it; it watches it
            job = None if handed is None else self._handable(record_id, handed)  # judged late
            try:
                info = driver.start(record_id, project, pipeline, placement or {}, job=job)
            except CapacityExceeded:
                metrics.WORKER_STARTS.labels(driver.cloud, "no_room").inc()
                raise
            except Exception:
                metrics.WORKER_STARTS.labels(driver.cloud, "failed").inc()
                raise
            metrics.WORKER_STARTS.labels(driver.cloud, "ok").inc()
            saved = SavedWorker(
                record_id,
                project,
                pipeline,
                datetime.fromisoformat(info["creationTime"]),
                driver.handle(record_id),
            )
            try:
                self.store.started(saved, driver.cloud, driver.kind, self.host)
            except Exception:
                # A worker we could not persist would be lost at our next restart.
                driver.stop(record_id)
                raise
        return info

    def _handable(self, record_id: str, handed: HandedJob) -> Job | None:
        """The job sent with a start, if its worker may be handed it (the worker checks that
        it is its record's, as it checks get_job's answer)."""
        if not domain.job_fresh(handed["sent"], self._wall()):
            log.warning("the job sent with the start of %s is stale: its worker asks", record_id)
            return None
        return handed["job"]

    def stop(self, record_id: str) -> bool:
        """Stops the worker wherever it runs: one another replica started is adopted here
        to be stopped (its owner then sees it gone; both reports of its exit are harmless)."""
        domain.check_record_id(record_id)
        if any(driver.stop(record_id) for driver in list(self.drivers.values())):
            return True
        stored = self.store.running_worker(record_id)
        if stored is None or stored.host == self.host:
            return False
        with self._start_lock:
            try:
                driver = self._serving(stored.saved.cloud or domain.LOCAL, stored.kind)
            except (Conflict, InvalidRequest) as exc:
                log.error("cannot stop the worker of %s: %s", record_id, exc)
                return False
            driver.adopt([stored.saved])
        return driver.stop(record_id)

    def list(self, cloud: str | None = None) -> list[WorkerInfo]:
        """All workers, or those of one cloud (a stored one, or a built-in name)."""
        if cloud is None:
            return [info for driver in list(self.drivers.values()) for info in driver.list()]
        driver = self.drivers.get(domain.listed_cloud(cloud, self._lookup(cloud)))
        return driver.list() if driver is not None else []

    @contextmanager
    def retiring(self, cloud: str) -> Iterator[None]:
        """Around the deletion of a stored cloud: no worker starts meanwhile, Conflict while
        the cloud has workers, and its driver instance is forgotten once it is gone."""
        with self._start_lock:
            driver = self.drivers.get(cloud)
            running = len(driver.list()) if driver is not None else 0
            if running:
                raise Conflict(f"cloud {cloud} has {running} running workers")
            yield
            if cloud not in self._builtin and (gone := self.drivers.pop(cloud, None)):
                gone.close()

    def close(self) -> None:
        """The service stops: each driver lets go of what it made ahead (Driver.close)."""
        for driver in list(self.drivers.values()):
            driver.close()

    def report_exits(self, publish: Callable[[WorkerExited], Any]) -> int:
        """Publish and store the exits found since the last call; returns how many.

        Publish first, then store: a crash in between publishes again after the restart
        (events are at least once). A failed publish stays pending for the next call.
        """
        for driver in list(self.drivers.values()):
            found = driver.poll()
            for report in found:
                result = "ok" if report.exit_code == 0 else "failed"
                metrics.WORKER_EXITS.labels(driver.cloud, result).inc()
            self._pending.extend(found)
        done = 0
        while self._pending:
            report = self._pending[0]
            at = self._clock()
            publish(
                {
                    "record_id": report.record_id,
                    "exit_code": report.exit_code,
                    "reason": report.reason,
                    "time": rfc3339(at) or "",
                }
            )
            self.store.ended(report.record_id, report.exit_code, report.reason, at)
            self._pending.pop(0)
            done += 1
        return done

    def discard(self, record_ids: Iterable[str]) -> None:
        """Records were deleted: stop their workers, forget them and their worker logs."""
        valid = []
        for record_id in record_ids:
            try:
                valid.append(domain.check_record_id(record_id))
            except domain.InvalidRecordId:
                log.warning("ignoring deleted record %r: not a record id", record_id)
        for record_id in valid:
            drivers = list(self.drivers.values())
            owners = [d for d in drivers if any(w["recordID"] == record_id for w in d.list())]
            # Not running (anymore): one driver of each kind removes what is left of it.
            for driver in owners or list({d.kind: d for d in reversed(drivers)}.values()):
                driver.discard(record_id)
        if valid:
            self.store.delete(valid)

    def serve(self, cloud: str, kind: str) -> None:
        """Make the driver of a stored cloud now (it sweeps on its first poll)."""
        with self._start_lock:
            try:
                self._serving(cloud, kind)
            except (Conflict, InvalidRequest) as exc:
                log.error("cannot serve cloud %s: %s", cloud, exc)

    def _serving(self, cloud: str, kind: str) -> Driver:
        """The driver instance of a cloud, made on first use by the factory of its kind."""
        driver = self.drivers.get(cloud)
        if driver is None:
            factory = self._factories.get(kind)
            if factory is None:
                raise InvalidRequest(f"cloud {cloud} needs the {kind} driver, which is not set up")
            driver = self.drivers[cloud] = factory(cloud)
        elif driver.kind != kind:
            raise Conflict(f"cloud {cloud} still has {driver.kind} workers")
        return driver


def _info_of(saved: SavedWorker) -> WorkerInfo:
    return domain.worker_info(
        saved.record_id,
        saved.project,
        saved.pipeline,
        saved.cloud or domain.LOCAL,
        saved.started_at,
        saved.started_at,
    )
