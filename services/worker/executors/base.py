"""What every executor is (`Executor`), what it is made from (`Setting`), and the parts
several executors share by composition: the checkout on the worker's own disk
(`WorkspaceFiles`: Local, Kubernetes) and tar archives of it."""

from __future__ import annotations

import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from services.worker import imaging
from services.worker.artifacts import SourceFile, host_files
from services.worker.outputs import match_outputs
from services.worker.stages import process
from shared.contracts.launch import WorkerLaunch
from shared.contracts.rpc import Job

if TYPE_CHECKING:
    from docker.models.containers import Container

    from services.worker.engine import Engine

SPOOL = 16 * 1024 * 1024  # tar archives bigger than this spill to a temporary file


class SetupError(Exception):
    """Where commands run cannot be set up; the message fails every stage of the run."""


class Executor(Protocol):
    code_dir: str  # the checkout as commands see it

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Callable[[str], None],
        abort: threading.Event,
    ) -> process.Outcome:
        """Run argv in the code directory."""
        ...

    def command_env(self, build: Mapping[str, str]) -> dict[str, str]:
        """The environment of a stage's commands: `build` (domain.build_env) and whatever
        the place they run in needs (PATH and HOME on a host)."""
        ...

    def has_code(self) -> bool: ...

    def outputs(self, patterns: Sequence[str]) -> list[str]:
        """Paths matched by output patterns (outputs.match_outputs; OutputError)."""
        ...

    def context(self, subdir: str) -> IO[bytes]:
        """A tar archive of code/<subdir> with paths relative to it (a build context)."""
        ...

    def artifact_files(
        self, outputs: Sequence[str], log: Callable[[str], None]
    ) -> Iterator[SourceFile]:
        """The regular files under the outputs, streamed (services/worker/artifacts.py)."""
        ...

    def seed(self, container: Container) -> None:
        """Put the code into a container's workspace (when it is not there already)."""
        ...

    def after_checkout(self, log: Callable[[str], None]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Setting:
    """What an executor is made from: the run's launch (shared/contracts/launch.py), its job,
    its workspace, the worker's whole environment and the Docker engine, if one is set up."""

    launch: WorkerLaunch
    job: Job
    workspace: Path
    env: Mapping[str, str]
    engine: Engine | None = None


class WorkspaceFiles:
    """The checkout on the worker's own disk (`<workspace>/code`), as executors whose commands
    see that same disk read it: outputs, artifacts, build contexts."""

    def __init__(self, workspace: Path) -> None:
        self.code_path = workspace / "code"

    def has_code(self) -> bool:
        return self.code_path.is_dir()

    def outputs(self, patterns: Sequence[str]) -> list[str]:
        return match_outputs(self.code_path, patterns)

    def artifact_files(
        self, outputs: Sequence[str], log: Callable[[str], None]
    ) -> Iterator[SourceFile]:
        return host_files(self.code_path, outputs, log)

    def context(self, subdir: str) -> IO[bytes]:
        root = (self.code_path / subdir).resolve()
        if not root.is_dir() or not root.is_relative_to(self.code_path.resolve()):
            raise FileNotFoundError(f"contextDir {subdir} is not a directory of the code")
        return tar_of(root, ".")

    def seed(self, container: Container) -> None:
        container.put_archive(imaging.WORKSPACE, tar_of(self.code_path, "code"))


def tar_of(directory: Path, arcname: str) -> IO[bytes]:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - returned
    with tarfile.open(fileobj=spool, mode="w") as tar:
        tar.add(directory, arcname=arcname)
    spool.seek(0)
    return spool
