"""The interfaces every cloud backend implements, written once: its `Driver` (launch, watch,
stop and sweep the workers of one cloud), its ping, and the `Backend` entry the registry
(`services.cloud.backends`) holds for it.

A driver starts, watches and stops the workers of one cloud and keeps them in memory; the
service persists what `handle()` returns and gives it back to `adopt()` after a restart, so a
driver never touches the database itself. All methods are called from green threads of one
nameko container: a driver must not block the eventlet hub for long (sleep with
`eventlet.sleep`), and must tolerate `stop` running while `poll` or `start` run.
"""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from shared.contracts.catalog import Cloud
from shared.contracts.rpc import Job, PingResult, Placement, WorkerInfo
from shared.workertoken import WorkerTokens

if TYPE_CHECKING:
    from services.cloud.backends.forkserver import ForkServer

# What a driver keeps of a worker to find it again after a restart (pid, pgid and workspace
# of a process; namespace and name of a pod), stored with the worker.
Handle = dict[str, str | int]


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
    handle: Handle = field(default_factory=dict)
    cloud: str = ""  # the cloud it was started in (empty in documents older than named clouds)


@dataclass(frozen=True)
class StoredWorker:
    """A running worker as the store has it, with who runs it: its driver kind and the host
    (a cloud service replica) that started it."""

    saved: SavedWorker
    kind: str
    host: str


class Driver(Protocol):
    kind: str  # the backend's, stored with each worker: "local", "docker", "kubernetes"
    cloud: str  # the cloud this instance serves, as WorkerInfo.cloud

    def start(
        self,
        record_id: str,
        project: str,
        pipeline: str,
        placement: Placement,
        *,
        job: Job | None = None,
    ) -> WorkerInfo:
        """Launch the worker of a record and return at once (the run goes on by itself).

        Idempotent: a record this driver already tracks returns that worker's info.
        Raises when the worker could not be launched (nothing is left behind then).
        `job`, when given, is the record's job (secrets decrypted): a driver that can hand it
        to its worker privately does (a forked worker gets it on a descriptor), and the
        worker then skips `get_job`; any other driver ignores it, and its worker asks.
        """
        ...

    def stop(self, record_id: str) -> bool:
        """Stop the worker and everything it started; True if a live worker was stopped.

        Idempotent and safe to call concurrently: an unknown or already finished worker
        returns False and never raises. May take a few seconds (grace period, then kill);
        the exit itself is reported by a later `poll`, not here.
        """
        ...

    def poll(self) -> builtins.list[ExitReport]:
        """Workers that ended since the last call, each reported once, then forgotten.

        Also cleans up after them (leftover processes, workspaces, containers) and sweeps
        what this cloud left behind for workers nobody tracks. Not re-entrant: one caller
        (the service's timer) at a time.
        """
        ...

    def list(self) -> builtins.list[WorkerInfo]:
        """The workers tracked now: started or adopted and not yet reported by `poll`."""
        ...

    def handle(self, record_id: str) -> Handle:
        """Driver-specific facts to persist for a tracked worker (given back to `adopt`)."""
        ...

    def adopt(self, saved: builtins.list[SavedWorker]) -> None:
        """Track workers started before a restart; ones already tracked are skipped.

        Checks nothing itself: a worker that ended meanwhile is reported by the next `poll`.
        """
        ...

    def discard(self, record_id: str) -> None:
        """Stop the worker if it runs and delete whatever the driver keeps of the record."""
        ...

    def close(self) -> None:
        """The service stops or the cloud is deleted: let go of what the driver made ahead
        (a Docker cloud's spare builders). Running workers stay (the next start adopts them);
        never raises."""
        ...


# A worker on this host: the service's own interpreter runs it (`--record-id <id>` is appended).
DEFAULT_COMMAND: tuple[str, ...] = (sys.executable, "-m", "services.worker")


@dataclass(frozen=True)
class DriverContext:
    """What backends make their drivers from, built once per service container from the
    CYCLONE_* settings (services/cloud/dependencies.py)."""

    data_dir: Path
    amqp_uri: str  # the broker URL of the workers (a pod may be given another one)
    host: str = ""  # this replica of the cloud service: workers are saved, labelled with it
    tokens: WorkerTokens | None = None  # each worker proves its record with one
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    workspaces: Path | None = None  # of workers on this host; None: data_dir/workspaces
    command: Sequence[str] = DEFAULT_COMMAND  # a worker on this host (tests: a stand-in)
    find: Callable[[str], Cloud | None] = lambda name: None  # a stored cloud (sealed)
    unseal: Callable[[Cloud], Cloud] = lambda cloud: cloud  # its secrets decrypted
    fork_server: ForkServer | None = None  # forks the workers of the drivers on this host


DriverFactory = Callable[[str], Driver]  # makes the driver serving the named cloud


@dataclass(frozen=True)
class Backend:
    """One kind of cloud, as the registry holds it under its cloud type."""

    kind: str  # stored with each worker (the driver that adopts it after a restart)
    ping: Callable[[Cloud], PingResult]  # a stored cloud, secrets decrypted; never raises
    drivers: Callable[[DriverContext], DriverFactory]  # called once per service container
    serve_at_start: bool = False  # its stored clouds get their drivers when the service
    # starts (a Docker driver's first poll sweeps what a crash left behind)
