"""What every stage gets (`Context`) and how it ends other than by success."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from services.worker import domain
from services.worker.stages import process
from shared.contracts.catalog import Pipeline, ScmSection
from shared.contracts.records import PerformParams, StageDetails
from shared.contracts.rpc import Job

if TYPE_CHECKING:
    from services.worker.artifacts import ArtifactClient
    from services.worker.engine import Engine
    from services.worker.executors import Executor


class CommandRunner(Protocol):
    """What runs a stage's command lines somewhere other than this host: an Executor, or a
    container of the stage's own (an integration test's)."""

    code_dir: str  # where the commands run

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Callable[[str], None],
        abort: threading.Event,
    ) -> process.Outcome: ...


class StageFailed(Exception):
    """The stage failed; the message is the stage's error (it is masked before it is sent)."""


class StageAborted(Exception):
    """The worker was asked to stop while the stage ran."""


@dataclass
class RunState:
    """What stages of one run tell later ones."""

    planned: list[str] = field(default_factory=list)  # the record's stages
    statuses: dict[str, str] = field(default_factory=dict)  # stage -> final status so far
    record_name: str = ""
    commit: str = ""  # the main repository's commit, once checked out
    images: dict[str, str] = field(default_factory=dict)  # built: bare name -> reference
    failed_details: StageDetails | None = None  # details a failing stage still reports


@dataclass
class Context:
    job: Job
    workspace: Path
    log: Callable[[str], None]  # one line, masked by whoever made the context
    abort: threading.Event
    env: Mapping[str, str] = field(default_factory=dict)
    mask: Callable[[str], str] = str  # masks a whole text (the run's SecretMasker.mask)
    executor: Executor | None = None  # where commands run; None: on this host
    engine: Engine | None = None  # the Docker engine of the image stages, if any
    state: RunState = field(default_factory=lambda: RunState())
    artifacts: ArtifactClient | None = None  # keeps outputs (None: not kept, e.g. tests)

    @property
    def code_dir(self) -> Path:
        return self.workspace / "code"

    @property
    def pipeline(self) -> Pipeline:
        return self.job.get("pipeline", {})

    @property
    def params(self) -> PerformParams:
        return self.job.get("params", {})

    @property
    def scm(self) -> ScmSection:
        return self.job.get("project", {}).get("scm", {})

    def build_env(self, stage: str, code_dir: str) -> dict[str, str]:
        """The build environment of a stage's commands (see domain.build_env)."""
        return domain.build_env(
            self.job,
            stage=stage,
            record_name=self.state.record_name,
            commit=self.state.commit,
            code_dir=code_dir,
        )

    def execute(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        echo: str,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        executor: CommandRunner | None = None,
    ) -> process.Outcome:
        """Echo `$ <echo>` (never the real argv, which may hold credentials), then run argv
        with its output streamed into the log; raises StageAborted on abort. With an
        executor, argv runs in its code directory (`cwd` and `stdin` are for the host)."""
        if self.abort.is_set():
            raise StageAborted()
        for line in domain.echo(self.mask(echo)):  # whole: "> " would split a secret apart
            self.log(line)
        run_env = self.env if env is None else env
        if executor is not None:
            outcome = executor.run(argv, env=run_env, log=self.log, abort=self.abort)
        else:
            outcome = process.run(
                argv, cwd=cwd, env=run_env, log=self.log, abort=self.abort, stdin=stdin
            )
        if outcome.aborted:
            raise StageAborted()
        return outcome
