"""The Local cloud's executor: a stage's commands as child processes on the worker's host, in
its own workspace, as the build user when the launch names one (the Local cloud run by root:
builds never run as the services' user, docs/security.md)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from services.worker import domain
from services.worker.artifacts import SourceFile
from services.worker.executors.base import Setting, SetupError, WorkspaceFiles
from services.worker.stages import process
from shared.contracts import launch

if TYPE_CHECKING:
    from docker.models.containers import Container


class HostExecutor:
    """Commands as child processes in the worker's own workspace; as `user` when given."""

    def __init__(self, workspace: Path, path: str = "", user: process.RunAs | None = None) -> None:
        self.workspace = workspace
        self.files = WorkspaceFiles(workspace)
        self.code_path = self.files.code_path
        self.code_dir = str(self.code_path)
        self.home = workspace / "home"  # the build's HOME: its own, in the workspace
        self.path = path or os.environ.get("PATH", "")
        self.user = user

    @classmethod
    def from_env(cls, workspace: Path, env: Mapping[str, str]) -> HostExecutor:
        """As the cloud service launched the worker: its launch's build user is the user the
        commands run as (none: the worker's own); KeyError when there is no such user."""
        name = env.get(launch.BUILD_USER, "").strip()
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
        return self.files.has_code()

    def outputs(self, patterns: Sequence[str]) -> list[str]:
        return self.files.outputs(patterns)

    def artifact_files(
        self, outputs: Sequence[str], log: Callable[[str], None]
    ) -> Iterator[SourceFile]:
        return self.files.artifact_files(outputs, log)

    def context(self, subdir: str) -> IO[bytes]:
        return self.files.context(subdir)

    def seed(self, container: Container) -> None:
        self.files.seed(container)

    def after_checkout(self, log: Callable[[str], None]) -> None:
        return None

    def close(self) -> None:
        return None


def set_up(setting: Setting) -> HostExecutor:
    try:
        return HostExecutor.from_env(setting.workspace, setting.env)
    except KeyError as exc:
        name = setting.launch.build_user
        raise SetupError(f"the build user {name} does not exist on this host") from exc


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    """chown -R without following links (a link in a repository may point anywhere)."""
    os.chown(top, uid, gid, follow_symlinks=False)
    for root, dirs, files in os.walk(top):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)
