"""Where a stage's commands run: on the worker's host (Local cloud), or in the pipeline's
builder container on a Docker engine (Docker cloud).

Checkout always runs on the worker's host (git and svn with the worker's credentials
handling); the container executor then copies the code into the record's workspace volume,
where every later stage finds it. The worker never assumes the engine shares its disk.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from services.worker import domain, imaging
from services.worker.artifacts import SourceFile, host_files, tar_files
from services.worker.imaging import EngineError
from services.worker.stages import process

if TYPE_CHECKING:
    from docker.models.containers import Container

    from services.worker.engine import Engine

EXECUTOR_ENV = "CYCLONE_EXECUTOR"  # "docker": commands in the builder container
WORKER_QUOTA_ENV = "CYCLONE_WORKER_QUOTA"  # the project's worker.quota, JSON
BUILD_USER_ENV = "CYCLONE_BUILD_USER"  # host commands run as this user (Local cloud as root)
SPOOL = 16 * 1024 * 1024  # tar archives bigger than this spill to a temporary file


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
        """Paths matched by output patterns; LookupError names a pattern matching nothing."""
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


class HostExecutor:
    """Commands as child processes in the worker's own workspace; as `user` when given (the
    Local cloud run by root: builds never run as the services' user, docs/security.md)."""

    def __init__(self, workspace: Path, path: str = "", user: process.RunAs | None = None) -> None:
        self.workspace = workspace
        self.code_path = workspace / "code"
        self.code_dir = str(self.code_path)
        self.home = workspace / "home"  # the build's HOME: its own, in the workspace
        self.path = path or os.environ.get("PATH", "")
        self.user = user

    @classmethod
    def from_env(cls, workspace: Path, env: Mapping[str, str]) -> HostExecutor:
        """As the cloud service launched the worker: `CYCLONE_BUILD_USER` names the user
        the commands run as (unset: the worker's own)."""
        name = env.get(BUILD_USER_ENV, "").strip()
        user = process.RunAs.named(name) if name else None
        return cls(workspace, env.get("PATH", ""), user)

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Callable[[str], None],
        abort: threading.Event,
    ) -> process.Outcome:
        self._hand_over()
        return process.run(argv, cwd=self.code_path, env=env, log=log, abort=abort, user=self.user)

    def _hand_over(self) -> None:
        """The build's HOME exists, and it and the code belong to the build user (the checkout
        ran as the worker); only once per record, since ownership is checked first."""
        self.home.mkdir(mode=0o700, exist_ok=True)
        if self.user is None:
            return
        for top in (self.home, self.code_path):
            if top.exists() and top.stat().st_uid != self.user.uid:
                _chown_tree(top, self.user.uid, self.user.gid)

    def command_env(self, build: Mapping[str, str]) -> dict[str, str]:
        return domain.host_env(build, path=self.path, home=str(self.home))

    def has_code(self) -> bool:
        return self.code_path.is_dir()

    def outputs(self, patterns: Sequence[str]) -> list[str]:
        from services.worker.stages.commands import collect_outputs

        return collect_outputs(self.code_path, list(patterns))

    def artifact_files(
        self, outputs: Sequence[str], log: Callable[[str], None]
    ) -> Iterator[SourceFile]:
        return host_files(self.code_path, outputs, log)

    def context(self, subdir: str) -> IO[bytes]:
        root = (self.code_path / subdir).resolve()
        if not root.is_dir() or not root.is_relative_to(self.code_path.resolve()):
            raise FileNotFoundError(f"contextDir {subdir} is not a directory of the code")
        return _tar_of(root, ".")

    def seed(self, container: Container) -> None:
        container.put_archive(imaging.WORKSPACE, _tar_of(self.code_path, "code"))

    def after_checkout(self, log: Callable[[str], None]) -> None:
        return None

    def close(self) -> None:
        return None


class ContainerExecutor:
    """Commands exec'd in one long-lived builder container per record (STACK-NOTES: an exec
    costs ~44 ms where a container per command costs seconds on vfs), with the workspace in
    a labelled volume shared by every container of the record."""

    code_dir = imaging.CODE_DIR

    def __init__(
        self,
        engine: Engine,
        image: str,
        image_env: Mapping[str, str],
        limits: Mapping[str, int],
        workspace: Path,
    ) -> None:
        self.engine = engine
        self.image = image
        self.image_env = dict(image_env)
        self.limits = dict(limits)
        self.local_code = workspace / "code"
        self._builder: Container | None = None
        self._has_code = False

    def builder(self, say: Callable[[str], None]) -> Container:
        """The builder container, started on first use."""
        if self._builder is None:
            if not self.image:
                raise EngineError("the pipeline names no builder image")
            self.engine.ensure_image(self.image, say)
            self._builder = self.engine.run_detached(
                self.image,
                "builder",
                imaging.KEEP_ALIVE,
                env=self.image_env,
                workspace=True,
                limits=self.limits,
                working_dir=imaging.WORKSPACE,
            )
            say(f"builder container {self._builder.name} ({self.image}) started")
        return self._builder

    def after_checkout(self, log: Callable[[str], None]) -> None:
        builder = self.builder(log)
        builder.put_archive(imaging.WORKSPACE, _tar_of(self.local_code, "code"))
        self._has_code = True

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Callable[[str], None],
        abort: threading.Event,
    ) -> process.Outcome:
        builder = self.builder(log)
        return self.engine.exec(builder, argv, workdir=self.code_dir, env=env, log=log, abort=abort)

    def command_env(self, build: Mapping[str, str]) -> dict[str, str]:
        return dict(build)  # the image's own PATH and HOME; the worker's environment stays

    def has_code(self) -> bool:
        return self._has_code

    def outputs(self, patterns: Sequence[str]) -> list[str]:
        for pattern in patterns:
            problem = domain.output_problem(pattern)
            if problem:
                raise ValueError(problem)
        if not patterns:
            return []
        builder = self.builder(lambda _line: None)
        found = builder.exec_run(["find", ".", "-mindepth", "1"], workdir=self.code_dir)
        if found.exit_code != 0:
            raise EngineError(f"cannot list the code: {found.output.decode(errors='replace')}")
        paths = [
            line.removeprefix("./")
            for line in found.output.decode("utf-8", errors="replace").splitlines()
            if line.startswith("./")
        ]
        return imaging.match_outputs(paths, patterns)

    def artifact_files(
        self, outputs: Sequence[str], log: Callable[[str], None]
    ) -> Iterator[SourceFile]:
        """Each output as the engine archives it, read as it streams in."""
        builder = self.builder(lambda _line: None)
        seen: set[str] = set()
        for output in outputs:
            stream, _stat = builder.get_archive(f"{self.code_dir}/{output.strip('/')}")
            try:
                yield from tar_files(output, stream, seen, log)
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()

    def context(self, subdir: str) -> IO[bytes]:
        builder = self.builder(lambda _line: None)
        path = f"{self.code_dir}/{subdir.strip('/') or '.'}".rstrip("/") + "/."
        stream, _stat = builder.get_archive(path)
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - returned
        for chunk in stream:
            spool.write(chunk)
        spool.seek(0)
        return spool

    def seed(self, container: Container) -> None:
        return None  # the container mounts the workspace volume, code included

    def close(self) -> None:
        return None  # Engine.remove_all takes the builder with the rest


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    """chown -R without following links (a link in a repository may point anywhere)."""
    os.chown(top, uid, gid, follow_symlinks=False)
    for root, dirs, files in os.walk(top):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def _tar_of(directory: Path, arcname: str) -> IO[bytes]:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - returned
    with tarfile.open(fileobj=spool, mode="w") as tar:
        tar.add(directory, arcname=arcname)
    spool.seek(0)
    return spool
