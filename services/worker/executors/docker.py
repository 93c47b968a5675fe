"""The Docker cloud's executor: a stage's commands exec'd in the pipeline's builder container
on the cloud's engine, with the record's workspace in a labelled volume.

Checkout runs on the worker's host (git and svn with the worker's credentials handling); the
code is then copied into the workspace volume, where every later stage finds it. The worker
never assumes the engine shares its disk: outputs are matched over a listing of the
container's files, artifacts and build contexts read through the engine's archives.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from services.worker import domain, imaging
from services.worker.artifacts import SourceFile, tar_files
from services.worker.executors.base import SPOOL, Setting, SetupError, tar_of
from services.worker.imaging import EngineError
from services.worker.outputs import check_outputs, match_outputs
from services.worker.stages import process
from shared.contracts import launch

if TYPE_CHECKING:
    from docker.models.containers import Container

    from services.worker.engine import Engine


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
        spare: str = "",
    ) -> None:
        self.engine = engine
        self.spare = spare  # the cloud's spare builder to take first, if any
        self.image = image
        self.image_env = dict(image_env)
        self.limits = dict(limits)
        self.local_code = workspace / "code"
        self._builder: Container | None = None
        self._has_code = False
        self._early: EarlyStart | None = None

    def start_early(self) -> None:
        """Begin making the builder on a thread now: its half second or more on the engine
        (volume, network, create, start) then overlaps the worker's own start and the
        checkout on the host, which come before the builder's first use."""
        if self._early is None and self._builder is None:
            self._early = EarlyStart(self._make_builder)

    def builder(self, say: Callable[[str], None]) -> Container:
        """The builder container, started on first use (or waited for, if started early:
        what it said so far, and says from now on, goes to `say`)."""
        early, self._early = self._early, None
        if early is not None:
            self._builder = early.result(say)  # raises what the early start raised
        if self._builder is None:
            self._builder = self._make_builder(say)
        return self._builder

    def _make_builder(self, say: Callable[[str], None]) -> Container:
        if not self.image:
            raise EngineError("the pipeline names no builder image")
        if self.spare and not self.limits:  # spares have no limits (spares.py)
            taken = self.engine.take_spare(self.spare, self.image)
            if taken is not None:
                say(f"builder container {taken.name} ({self.image}) taken ready-started")
                return taken
        self.engine.ensure_image(self.image, say)
        builder = self.engine.run_detached(
            self.image,
            "builder",
            imaging.KEEP_ALIVE,
            env=self.image_env,
            workspace=True,
            limits=self.limits,
            working_dir=imaging.WORKSPACE,
        )
        say(f"builder container {builder.name} ({self.image}) started")
        return builder

    def after_checkout(self, log: Callable[[str], None]) -> None:
        builder = self.builder(log)
        builder.put_archive(imaging.WORKSPACE, tar_of(self.local_code, "code"))
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
        check_outputs(patterns)  # before the builder is asked anything
        if not patterns:
            return []
        return match_outputs(self.listing(), patterns)

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
        """Wait for an early start still under way, so that Engine.remove_all, which takes
        the builder with the rest, comes after it."""
        early, self._early = self._early, None
        if early is not None:
            early.wait()

    def listing(self) -> list[str]:
        """The code's paths in the builder, relative, `/`-separated."""
        builder = self.builder(lambda _line: None)
        found = builder.exec_run(["find", ".", "-mindepth", "1"], workdir=self.code_dir)
        if found.exit_code != 0:
            raise EngineError(f"cannot list the code: {found.output.decode(errors='replace')}")
        return [
            line.removeprefix("./")
            for line in found.output.decode("utf-8", errors="replace").splitlines()
            if line.startswith("./")
        ]


def set_up(setting: Setting) -> ContainerExecutor:
    """The builder container's executor on the launch's engine, with the pipeline's builder
    image and envVars and the project's worker quota as limits."""
    if setting.engine is None:
        raise SetupError(f"the Docker cloud names no engine ({launch.DOCKER_HOST})")
    project = setting.job.get("project") or {}
    pipeline = setting.job.get("pipeline") or {}
    image = (pipeline.get("build") or {}).get("builderImage") or {}
    try:
        limits = imaging.container_limits((project.get("worker") or {}).get("quota"))
    except imaging.QuotaError as exc:
        raise SetupError(f"the project's worker quota: {exc}") from exc
    executor = ContainerExecutor(
        setting.engine,
        str(image.get("image") or ""),
        domain.env_vars(pipeline),
        limits,
        setting.workspace,
        setting.launch.spare_builder,
    )
    executor.start_early()
    return executor


class EarlyStart:
    """A builder being made on a thread. What it says before anyone waits for it is kept,
    then handed to the first waiter's `say`, which also gets the rest as it comes."""

    def __init__(self, make: Callable[[Callable[[str], None]], Container]) -> None:
        self._lock = threading.Lock()
        self._said: list[str] = []
        self._say: Callable[[str], None] | None = None
        self._made: Container | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(make,), daemon=True, name="builder")
        self._thread.start()

    def result(self, say: Callable[[str], None]) -> Container:
        with self._lock:  # the kept lines first, then the rest as they come: in order
            for text in self._said:
                say(text)
            self._said, self._say = [], say
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._made is not None  # _run sets one of the two
        return self._made

    def wait(self) -> None:
        self._thread.join()

    def _tell(self, text: str) -> None:
        with self._lock:
            if self._say is None:
                self._said.append(text)
            else:
                self._say(text)

    def _run(self, make: Callable[[Callable[[str], None]], Container]) -> None:
        try:
            self._made = make(self._tell)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiter, raised there
            self._error = exc
