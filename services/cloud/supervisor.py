"""Workers across drivers: start, stop, list, and each exit reported once and stored.

Plain code over a driver per cloud and the store (no nameko, no pymongo), shared by all
entrypoints of one service container.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from services.cloud import domain
from services.cloud.drivers.base import Driver, ExitReport, SavedWorker
from shared.contracts.events import WorkerExited
from shared.contracts.rpc import Placement, WorkerInfo
from shared.timefmt import now, rfc3339

log = logging.getLogger(__name__)


class Store(Protocol):
    """What the supervisor needs of `store.WorkerStore`."""

    def started(self, saved: SavedWorker, cloud: str, driver: str, host: str) -> None: ...
    def ended(self, record_id: str, exit_code: int | None, reason: str, at: datetime) -> None: ...
    def running(self, driver: str, host: str) -> list[SavedWorker]: ...
    def delete(self, record_ids: Iterable[str]) -> None: ...


class Supervisor:
    def __init__(
        self,
        drivers: Sequence[Driver],
        store: Store,
        host: str,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.drivers = {driver.cloud: driver for driver in drivers}
        self.store = store
        self.host = host
        self._clock = clock
        self._pending: list[ExitReport] = []  # ended, not yet published and stored
        self._start_lock = threading.Lock()  # green under eventlet's monkey patching

    def resume(self) -> None:
        """Adopt the workers this host's drivers started before a restart."""
        for driver in self.drivers.values():
            driver.adopt(self.store.running(driver.kind, self.host))

    def start(
        self, record_id: str, project: str, pipeline: str, placement: Placement | None
    ) -> WorkerInfo:
        """Idempotent: a record with a live worker (in any cloud) gets that worker's info."""
        domain.check_record_id(record_id)
        driver = self._driver(domain.cloud_of_placement(placement))
        with self._start_lock:
            for known in self.drivers.values():
                for info in known.list():
                    if info["recordID"] == record_id:
                        return info
            info = driver.start(record_id, project, pipeline, placement or {})
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

    def stop(self, record_id: str) -> bool:
        domain.check_record_id(record_id)
        return any(driver.stop(record_id) for driver in self.drivers.values())

    def list(self, cloud: str | None = None) -> list[WorkerInfo]:
        if cloud is None:
            return [info for driver in self.drivers.values() for info in driver.list()]
        return self._driver(domain.cloud_of(cloud)).list()

    def report_exits(self, publish: Callable[[WorkerExited], Any]) -> int:
        """Publish and store the exits found since the last call; returns how many.

        Publish first, then store: a crash in between publishes again after the restart
        (events are at least once). A failed publish stays pending for the next call.
        """
        for driver in self.drivers.values():
            self._pending.extend(driver.poll())
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
            for driver in self.drivers.values():
                driver.discard(record_id)
        if valid:
            self.store.delete(valid)

    def _driver(self, cloud: str) -> Driver:
        driver = self.drivers.get(cloud)
        if driver is None:
            raise domain.CloudNotFound(cloud)
        return driver
