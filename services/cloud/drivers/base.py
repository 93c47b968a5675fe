"""The one interface every cloud driver implements (local processes now; Docker, Kubernetes later).

A driver starts, watches and stops the workers of one cloud and keeps them in memory; the
service persists what `handle()` returns and gives it back to `adopt()` after a restart, so a
driver never touches the database itself. All methods are called from green threads of one
nameko container: a driver must not block the eventlet hub for long (sleep with
`eventlet.sleep`), and must tolerate `stop` running while `poll` or `start` run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.contracts.rpc import Placement, WorkerInfo


@dataclass(frozen=True)
class ExitReport:
    """A worker that ended: exit code (Popen convention, -N for signal N) or None if unknown."""

    record_id: str
    exit_code: int | None
    reason: str


@dataclass
class SavedWorker:
    """What the store keeps of a running worker: enough for `adopt` to find it again."""

    record_id: str
    project: str
    pipeline: str
    started_at: datetime
    handle: dict[str, Any] = field(default_factory=dict)  # driver-specific (pid, container id)
    cloud: str = ""  # the cloud it was started in (empty in documents older than named clouds)


@dataclass(frozen=True)
class StoredWorker:
    """A running worker as the store has it, with who runs it: its driver kind and the host
    (a cloud service replica) that started it."""

    saved: SavedWorker
    kind: str
    host: str


class Driver(Protocol):
    kind: str  # the driver, stored with each worker: "local", "docker", "kubernetes"
    cloud: str  # the cloud this instance serves, as WorkerInfo.cloud

    def start(
        self, record_id: str, project: str, pipeline: str, placement: Placement
    ) -> WorkerInfo:
        """Launch the worker of a record and return at once (the run goes on by itself).

        Idempotent: a record this driver already tracks returns that worker's info.
        Raises when the worker could not be launched (nothing is left behind then).
        """
        ...

    def stop(self, record_id: str) -> bool:
        """Stop the worker and everything it started; True if a live worker was stopped.

        Idempotent and safe to call concurrently: an unknown or already finished worker
        returns False and never raises. May take a few seconds (grace period, then kill);
        the exit itself is reported by a later `poll`, not here.
        """
        ...

    def poll(self) -> list[ExitReport]:
        """Workers that ended since the last call, each reported once, then forgotten.

        Also cleans up after them (leftover processes, workspaces). Not re-entrant: one
        caller (the service's timer) at a time.
        """
        ...

    def list(self) -> list[WorkerInfo]:
        """The workers tracked now: started or adopted and not yet reported by `poll`."""
        ...

    def handle(self, record_id: str) -> dict[str, Any]:
        """Driver-specific facts to persist for a tracked worker (given back to `adopt`)."""
        ...

    def adopt(self, saved: list[SavedWorker]) -> None:
        """Track workers started before a restart; ones already tracked are skipped.

        Checks nothing itself: a worker that ended meanwhile is reported by the next `poll`.
        """
        ...

    def discard(self, record_id: str) -> None:
        """Stop the worker if it runs and delete whatever the driver keeps of the record."""
        ...
