"""The Kubernetes cloud's executor: a stage's commands in the pod's `builder` container,
through the exec API.

The worker and the builder share the pod's `workspace` volume at the same path, so the checkout
made by the worker is already where the builder's commands run, and outputs and build contexts
are read from the worker's own disk (`WorkspaceFiles`, as the Local executor reads them). Only
running a command differs: it is exec'd in `builder`, its output streamed back line by line.

The command's environment (the pipeline's envVars, which may hold secrets) is not put on the
exec command line, which the API server may log: it goes through a file in the shared
workspace that the exec'd shell reads and deletes before running the command.

Where the pod is: its launch's pod name, namespace and builder container (shared/contracts/
launch.py, set in the pod by the Kubernetes driver). The API server: the pod's service account
(in-cluster), or CYCLONE_KUBE_API_URL (development and tests: a plain URL, no credentials).
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kubernetes.client import ApiClient, Configuration, CoreV1Api
from kubernetes.stream import stream

from services.worker.artifacts import SourceFile
from services.worker.executors.base import Setting, SetupError, WorkspaceFiles
from services.worker.lines import LineLog
from services.worker.stages import process
from shared import kubeclient as kube
from shared.contracts import launch
from shared.contracts.launch import WorkerLaunch

if TYPE_CHECKING:
    from docker.models.containers import Container

POD_ENV, NAMESPACE_ENV, CONTAINER_ENV = (
    launch.POD_NAME,
    launch.POD_NAMESPACE,
    launch.BUILDER_CONTAINER,
)
API_URL_ENV = "CYCLONE_KUBE_API_URL"
POLL = 0.05


class PodError(Exception):
    """The pod's builder cannot be reached (settings missing, API refused)."""


def api_from_env(env: Mapping[str, str]) -> CoreV1Api:
    """The API of the cluster this pod runs in."""
    url = env.get(API_URL_ENV, "").strip()
    if url:
        config = Configuration(host=url)
        config.proxy = None
    else:
        try:
            config = kube.configuration({"inCluster": True}, environ=env)
        except kube.KubeConfigError as exc:
            raise PodError(str(exc)) from exc
    return CoreV1Api(ApiClient(config))


class PodExecutor:
    """Commands exec'd in the builder container of this pod; see the module docstring."""

    def __init__(
        self, workspace: Path, api: CoreV1Api, namespace: str, pod: str, container: str
    ) -> None:
        self.workspace = workspace
        self.files = WorkspaceFiles(workspace)
        self.code_dir = str(self.files.code_path)
        self.api = api
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self._env_dir = workspace / ".cyclone"
        self._count = itertools.count(1)

    @classmethod
    def from_env(cls, workspace: Path, env: Mapping[str, str]) -> PodExecutor:
        """The pod its launch names; PodError when it names none."""
        launched = WorkerLaunch.from_env(env)
        missing = [
            name
            for name, value in (
                (POD_ENV, launched.pod_name),
                (NAMESPACE_ENV, launched.pod_namespace),
            )
            if not value
        ]
        if missing:
            raise PodError(f"not in a worker pod: {', '.join(missing)} not set")
        return cls(
            workspace,
            api_from_env(env),
            launched.pod_namespace,
            launched.pod_name,
            launched.builder_container or kube.BUILDER,
        )

    def command_env(self, build: Mapping[str, str]) -> dict[str, str]:
        return dict(build)  # the builder keeps its image's PATH and HOME; the worker's stay

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

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Callable[[str], None],
        abort: threading.Event,
    ) -> process.Outcome:
        self._env_dir.mkdir(parents=True, exist_ok=True)
        env_file = self._env_dir / f"env-{os.getpid()}-{next(self._count)}"
        env_file.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
        env_file.chmod(0o644)  # the builder may run as another user
        script = (
            f". {shlex.quote(str(env_file))} && rm -f {shlex.quote(str(env_file))} && "
            f'cd {shlex.quote(self.code_dir)} && exec "$@"'
        )
        command = ["sh", "-c", script, "sh", *argv]
        out = LineLog(log)
        err = LineLog(log, out.tail)  # stderr keeps its own partial line, shares the tail
        try:
            client: Any = stream(
                self.api.connect_get_namespaced_pod_exec,
                self.pod,
                self.namespace,
                container=self.container,
                command=command,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                binary=True,  # bytes: a character split between frames stays whole
                _preload_content=False,
            )
        except Exception as exc:  # noqa: BLE001 - told in the log, the stage fails
            env_file.unlink(missing_ok=True)
            text = f"cannot exec in the builder container: {_short(exc)}"
            log(text)
            return process.Outcome(127, False, (text,))
        try:
            while client.is_open():
                client.update(timeout=POLL)
                out.feed(client.read_channel(1))
                err.feed(client.read_channel(2))
                if abort.is_set():
                    # An exec cannot be signalled; the pod goes when the run is stopped.
                    return process.Outcome(-9, True, tuple(out.tail))
            out.feed(client.read_channel(1))
            err.feed(client.read_channel(2))
            out.flush()
            err.flush()
            code = _exit_code(client.read_channel(3))
        finally:
            client.close(timeout=0.5)  # no long wait for the close handshake
            env_file.unlink(missing_ok=True)
            out.close()
            err.close()
        for lines in (out, err):
            if lines.error is not None:
                raise lines.error
        return process.Outcome(code, False, tuple(out.tail))


def set_up(setting: Setting) -> PodExecutor:
    try:
        return PodExecutor.from_env(setting.workspace, setting.env)
    except PodError as exc:
        raise SetupError(f"the worker pod's builder is unreachable: {exc}") from exc


def _exit_code(status: bytes | str) -> int:
    """The exit code from the exec's status channel (a Status object)."""
    try:
        found = json.loads(status) if status else {}
    except ValueError:
        return -9
    if found.get("status") == "Success":
        return 0
    for cause in (found.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message"))
            except (TypeError, ValueError):
                break
    return -9  # it ended without an exit code: killed, or the exec failed


def _short(exc: BaseException) -> str:
    """One line: a refused websocket handshake comes as "status -+-+- headers -+-+- body"."""
    reason = str(getattr(exc, "reason", "") or "")
    if " -+-+- " in reason:
        parts = reason.split(" -+-+- ")
        message = kube.api_message(parts[-1])[1]
        return f"{parts[0]}: {message}"[:300] if message else parts[0][:300]
    text = [line for line in str(exc).strip().splitlines() if line.strip() not in ("", "(0)")]
    return text[0][:300] if text else type(exc).__name__
