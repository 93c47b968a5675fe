"""The Docker engine a worker drives: its builder container, image stages' containers, the
record's network and volume, all labelled with the record and removed when the run ends.

The engine may be remote (tcp://, TLS): nothing here assumes it shares a filesystem with the
worker. Files cross with put_archive/get_archive; output comes back over the API.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence

import docker
import docker.errors
from docker.models.containers import Container

from services.worker import imaging
from services.worker.imaging import EngineError
from services.worker.lines import LineLog
from services.worker.stages.process import POLL, Outcome
from shared import dockerengine
from shared.contracts.launch import WorkerLaunch
from shared.dockerengine import (
    CLOUD_LABEL,
    IMAGE_LABEL,
    RECORD_LABEL,
    SPARE_LABEL,
    explain,
    resource_name,
    spare_owner,
)

log = logging.getLogger(__name__)

API_TIMEOUT = 600.0  # seconds for one engine request (a push or build may be silent that long)
DRAIN_AFTER_ABORT = 0.5


class Engine:
    """One record's view of a Docker engine; see the module docstring."""

    def __init__(
        self,
        client: docker.DockerClient,
        record_id: str,
        labels: Mapping[str, str],
    ) -> None:
        self.client = client
        self.record_id = record_id
        self.labels = dict(labels)
        self._network: str | None = None
        self._volume: str | None = None
        self._spare = ""  # the token of the spare builder taken, if one was
        self._lock = threading.Lock()

    @classmethod
    def of_launch(
        cls, launched: WorkerLaunch, record_id: str, project: str, pipeline: str
    ) -> Engine | None:
        """The engine the worker's launch names, or None when it names none; labelled with
        the launch's cloud and host (shared/contracts/launch.py)."""
        if launched.docker is None:
            return None
        client = dockerengine.docker_client(launched.docker, API_TIMEOUT, version="auto")
        labels = imaging.labels(
            project,
            pipeline,
            record_id,
            launched.cloud or "local",
            launched.host or socket.gethostname(),
        )
        return cls(client, record_id, labels)

    # --- images ----------------------------------------------------------------------------

    def ensure_image(self, ref: str, say: Callable[[str], None]) -> None:
        """The image is on the engine, pulled if it was not; EngineError otherwise."""
        try:
            self.client.images.get(ref)
            return
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot inspect image {ref}: {explain(exc)}") from exc
        say(f"pulling image {ref}")
        repository, tag = imaging.split_ref(ref) if imaging.has_tag(ref) else (ref, "latest")
        try:
            self.client.images.pull(repository, tag=tag)
        except docker.errors.APIError as exc:
            raise EngineError(
                f"image {ref} is not on the Docker host and cannot be pulled: {explain(exc)}"
            ) from exc

    # --- containers ------------------------------------------------------------------------

    def network(self) -> str:
        """The record's own network (made on first use): service containers are reachable
        by name from the others on it."""
        with self._lock:
            if self._network is None:
                name = resource_name(self.record_id, "net")
                with contextlib.suppress(docker.errors.NotFound):
                    self.client.networks.get(name).remove()  # a previous worker's
                self.client.networks.create(name, driver="bridge", labels=self.labels)
                self._network = name
            return self._network

    def volume(self) -> str:
        """The record's workspace volume (made, or found from a previous worker, once)."""
        with self._lock:
            if self._volume is None:
                name = resource_name(self.record_id, "workspace")
                try:
                    self.client.volumes.get(name)
                except docker.errors.NotFound:
                    self.client.volumes.create(name, labels=self.labels)
                self._volume = name
            return self._volume

    def run_detached(
        self,
        image: str,
        part: str,
        command: Sequence[str] | None,
        *,
        env: Mapping[str, str] | None = None,
        workspace: bool = False,
        alias: str | None = None,
        limits: Mapping[str, int] | None = None,
        working_dir: str | None = None,
        network_mode: str | None = None,
        start: bool = True,
    ) -> Container:
        """Start (or only create) a labelled container of the record on its network (or in
        `network_mode`); a leftover of the same name (a worker that died) goes first."""
        name = resource_name(self.record_id, part)
        self.remove_container(name)
        container = dockerengine.create_container(
            self.client,
            image,
            name,
            command,
            labels=self.labels,
            env=env,
            limits=limits,
            network=None if network_mode else self.network(),
            network_mode=network_mode,
            volume=self.volume() if workspace else None,
            working_dir=working_dir,
        )
        if alias and not network_mode:
            # Reachable by the service's own name on the record's network.
            network = self.client.networks.get(self.network())
            network.disconnect(container)
            network.connect(container, aliases=[alias])
        if start:
            container.start()
        return container

    def take_spare(self, spare: str, image: str) -> Container | None:
        """The cloud's spare builder `spare` (services/cloud/backends/docker/spares.py) as
        this record's builder, its network and volume as the record's; None when it cannot be
        taken (gone, stopped, of another image or cloud), and the caller makes its own. The
        rename is the claim: the engine lets only one taker have it."""
        builder = resource_name(self.record_id, "builder")
        self.remove_container(builder)  # a previous worker's
        try:
            self.client.api.rename(spare, builder)
            container = self.client.containers.get(builder)
        except docker.errors.APIError as exc:
            log.info("spare builder %s not taken: %s", spare, explain(exc))
            return None
        labels = container.labels
        token = labels.get(SPARE_LABEL, "")
        fits = labels.get(IMAGE_LABEL) == image and labels.get(CLOUD_LABEL) == self.labels.get(
            CLOUD_LABEL
        )
        if not token or not fits or container.status != "running":
            log.info("spare builder %s not used: %s, %s", spare, container.status, labels)
            self.remove_container(builder)
            return None
        owner = spare_owner(token)
        with self._lock:
            self._spare = token
            self._network = resource_name(owner, "net")
            self._volume = resource_name(owner, "workspace")
        return container

    def remove_container(self, name_or_id: str) -> None:
        """Remove a container; a spare builder's network and volume go with it (one that a
        previous worker of the record took, or one this worker does not use)."""
        try:
            found = self.client.containers.get(name_or_id)
        except docker.errors.NotFound:
            return
        with contextlib.suppress(docker.errors.NotFound):
            found.remove(force=True, v=False)
        token = found.labels.get(SPARE_LABEL, "")
        if token and token != self._spare:
            dockerengine.remove_labelled(self.client, {SPARE_LABEL: token})

    def exec(
        self,
        container: Container,
        argv: Sequence[str],
        *,
        workdir: str,
        env: Mapping[str, str],
        log: Callable[[str], None],
        abort: threading.Event,
    ) -> Outcome:
        """Run argv in the container, its output streamed to `log` line by line. On abort the
        container is killed (an exec cannot be signalled alone), so the command stops."""
        created = self.client.api.exec_create(
            container.id, list(argv), environment=dict(env), workdir=workdir
        )
        exec_id = created["Id"]
        stream = self.client.api.exec_start(exec_id, stream=True)
        lines, aborted = _follow(stream, container, log, abort)
        if aborted:
            return Outcome(-9, True, tuple(lines.tail))
        code = self.client.api.exec_inspect(exec_id).get("ExitCode")
        return Outcome(code if isinstance(code, int) else -9, False, tuple(lines.tail))

    def stream_logs(
        self, container: Container, log: Callable[[str], None], abort: threading.Event
    ) -> int:
        """Follow a container's output to its end; returns its exit code (-9 when aborted)."""
        stream = container.logs(stream=True, follow=True, stdout=True, stderr=True)
        _lines, aborted = _follow(stream, container, log, abort)
        if aborted:
            return -9
        result = container.wait(timeout=API_TIMEOUT)
        return int(result.get("StatusCode", -9))

    # --- the end ---------------------------------------------------------------------------

    def remove_all(self) -> list[str]:
        """Remove every container, network and volume labelled with this record, and the spare
        it took; returns what went (for the log). Never raises: the cloud service sweeps what
        stays."""
        removed = dockerengine.remove_labelled(self.client, {RECORD_LABEL: self.record_id})
        if self._spare:  # after the record's own containers, which may use its network
            removed += dockerengine.remove_labelled(self.client, {SPARE_LABEL: self._spare})
        return removed

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


def _follow(
    stream: Iterator[bytes],
    container: Container,
    log: Callable[[str], None],
    abort: threading.Event,
) -> tuple[LineLog, bool]:
    """Read an output stream into `log` until it ends or `abort` is set, then kill the
    container (the only way to stop what runs in it). True when aborted."""
    lines = LineLog(log)
    reader = threading.Thread(target=lines.consume, args=(stream,), daemon=True, name="output")
    reader.start()
    while reader.is_alive():
        reader.join(POLL)
        if abort.is_set():
            with contextlib.suppress(docker.errors.APIError):
                container.kill()
            reader.join(DRAIN_AFTER_ABORT)
            lines.close()
            return lines, True
    lines.close()
    if lines.error is not None:
        raise lines.error
    return lines, False
