"""What every stage gets (`Context`) and how it ends other than by success."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.worker import domain
from services.worker.stages import process

if TYPE_CHECKING:
    from services.worker.artifacts import ArtifactClient
    from services.worker.engine import Engine
    from services.worker.executors import Executor


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
    failed_details: dict[str, Any] | None = None  # details a failing stage still reports


@dataclass
class Context:
    job: Mapping[str, Any]
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
    def pipeline(self) -> Mapping[str, Any]:
        return self.job.get("pipeline") or {}

    @property
    def params(self) -> Mapping[str, Any]:
        return self.job.get("params") or {}

    @property
    def scm(self) -> Mapping[str, Any]:
        return (self.job.get("project") or {}).get("scm") or {}

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
        executor: Executor | None = None,
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
