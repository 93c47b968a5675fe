"""Spare builders: a Docker cloud's builder containers, started before their records exist.

Starting a container is most of what a trivial record costs the engine: on this machine
350-400 ms to start one on its own network (a network namespace and its embedded DNS), where
creating it takes 15-30 ms on overlay2 (docs/architecture.md, "Spare builders"). So the
driver keeps `size` started builders for each of the last `images` builder images its records
used, each made as a record's builder is (docker-init, the keep-alive command, its own
network and its own empty workspace volume) and labelled with a token instead of a record.
The pipeline's envVars are not in it, and need not be: each command's exec carries them in
its build environment (services/worker/domain.py, build_env).

A record of that image is handed one in its launch (`spare_builder`); its worker takes it by
renaming it to the record's builder (services/worker/engine.py): the engine's rename is the
claim, and a spare gone or not running makes the worker start its own, as without spares.
Whatever is handed is made again at once, in a green thread. Records whose project sets a
quota are not served: their limits are set when their builder is created.

What a spare leaves behind is removed with its record (the worker, then EngineCleanup by the
token the driver handed or the one on the record's builder) or by the sweep after a restart
(tokens no one holds). `close()` removes the spares still waiting when the service stops.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import eventlet

from shared import dockerengine
from shared.contracts.catalog import DockerSection
from shared.dockerengine import (
    CLOUD_LABEL,
    HOST_LABEL,
    IMAGE_LABEL,
    KEEP_ALIVE,
    SPARE_LABEL,
    WORKSPACE,
    resource_name,
    spare_owner,
)
from shared.envvars import Env, SettingError

if TYPE_CHECKING:
    import docker

log = logging.getLogger(__name__)

SPARES_ENV = "CYCLONE_DOCKER_SPARES"
DEFAULT_SIZE = 1  # spares per image: records one after another each find one ready
MAX_SIZE = 8
IMAGES = 4  # images kept warm: the most recently wanted
ENGINE_TIMEOUT = 60.0  # seconds for one request making or removing a spare
CLOSE_WAIT = 5.0  # seconds close() waits for the spares being made, to remove them
CLOSE_POLL = 0.05


def size_from_env(environ: Mapping[str, str]) -> int:
    """Spares per image (CYCLONE_DOCKER_SPARES): 0 (none) to 8; SettingError otherwise."""
    value = Env(environ).integer(SPARES_ENV, DEFAULT_SIZE)
    if not 0 <= value <= MAX_SIZE:
        raise SettingError(f"{SPARES_ENV} must be 0 to {MAX_SIZE}, got {value}")
    return value


def spare_name(token: str) -> str:
    """A spare's container name, which the worker's launch carries."""
    return resource_name(spare_owner(token), "builder")


def token_of(name: str) -> str:
    """The token in a spare's container name (`spare_name`), or ''."""
    prefix, _, suffix = spare_name("\0").partition("\0")
    if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix + suffix):
        return name[len(prefix) : -len(suffix)]
    return ""


@dataclass
class _Pool:
    """One image's spares: ready (container names, oldest first) and how many are being made."""

    ready: list[str] = field(default_factory=list)
    making: int = 0


class SpareBuilders:
    """See the module docstring. `section` gives the engine's current settings; all methods
    run in green threads of the cloud service's hub (engine requests in their own)."""

    def __init__(
        self,
        cloud: str,
        host: str,
        section: Callable[[], DockerSection],
        size: int = DEFAULT_SIZE,
        images: int = IMAGES,
        spawn: Callable[..., object] = eventlet.spawn_n,
        sleep: Callable[[float], object] = eventlet.sleep,
    ) -> None:
        self.cloud = cloud
        self.host = host
        self.size = size
        self.images = images
        self._section = section
        self._spawn = spawn
        self._sleep = sleep
        self._making = 0  # spares being made, of every image
        self._pools: OrderedDict[str, _Pool] = OrderedDict()  # the most recently wanted last
        self._held: set[str] = set()  # tokens of spares ready or being made

    def take(self, image: str) -> str:
        """A ready spare's container name for a record of `image`, '' when there is none;
        either way the image's spares are made up to `size` again."""
        if self.size <= 0 or not image:
            return ""
        pool = self._pools.pop(image, None) or _Pool()
        self._pools[image] = pool
        name = pool.ready.pop(0) if pool.ready else ""
        self._held.discard(token_of(name))  # the record's now: removed with it (EngineCleanup)
        for _ in range(self.size - len(pool.ready) - pool.making):
            pool.making += 1
            self._making += 1
            token = secrets.token_hex(6)
            self._held.add(token)
            self._spawn(self._make, image, pool, token)
        while len(self._pools) > self.images:
            _image, dropped = self._pools.popitem(last=False)
            for old in dropped.ready:  # those being made go when made (their pool is gone)
                self._spawn(self.remove, token_of(old))
        return name

    def held(self) -> set[str]:
        """Tokens of the spares this driver keeps (ready or being made): the sweep spares
        them."""
        return set(self._held)

    def remove(self, token: str) -> list[str]:
        """Remove a spare's container, network and volume; never raises."""
        self._held.discard(token)
        if not token:
            return []
        match = {SPARE_LABEL: token, CLOUD_LABEL: self.cloud, HOST_LABEL: self.host}
        try:
            client = self._client()
            try:
                return dockerengine.remove_labelled(client, match)
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 - the sweep after the next start retries
            log.warning("cloud %s: cannot remove spare %s: %s", self.cloud, token, exc)
            return []

    def close(self) -> None:
        """Remove the spares still waiting (the service stops; those handed stay with their
        records), and those being made once they are (up to CLOSE_WAIT seconds: the sweep
        after the next start removes what is left)."""
        waiting = [name for pool in self._pools.values() for name in pool.ready]
        self._pools.clear()  # a spare made from now on is removed by its maker
        for name in waiting:
            self.remove(token_of(name))
        for _ in range(int(CLOSE_WAIT / CLOSE_POLL)):
            if not self._making:
                return
            self._sleep(CLOSE_POLL)

    def _make(self, image: str, pool: _Pool, token: str) -> None:
        try:
            made = self._start_spare(image, token)
            if made and self._pools.get(image) is pool:
                pool.ready.append(spare_name(token))
                log.info("cloud %s: spare builder of %s ready", self.cloud, image)
            elif made:
                self.remove(token)  # its image was dropped, or the driver closed, meanwhile
            else:
                self._held.discard(token)  # the engine has no such image: nothing was made
        except Exception as exc:  # noqa: BLE001 - a record then makes its own builder
            log.warning("cloud %s: no spare builder of %s: %s", self.cloud, image, exc)
            self.remove(token)  # what was made of it
        finally:  # last: close() waits for this
            pool.making -= 1
            self._making -= 1

    def _start_spare(self, image: str, token: str) -> bool:
        """Start one spare of `image` if the engine has that image (the worker pulls, with
        its record's credentials); False when it has not."""
        import docker.errors

        owner = spare_owner(token)
        labels = {CLOUD_LABEL: self.cloud, HOST_LABEL: self.host, SPARE_LABEL: token}
        labels[IMAGE_LABEL] = image
        client = self._client()
        try:
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound:
                return False
            network = client.networks.create(
                resource_name(owner, "net"), driver="bridge", labels=labels
            )
            volume = client.volumes.create(resource_name(owner, "workspace"), labels=labels)
            dockerengine.create_container(
                client,
                image,
                spare_name(token),
                KEEP_ALIVE,
                labels=labels,
                network=network.name,
                volume=volume.name,
                working_dir=WORKSPACE,
            ).start()
            return True
        finally:
            client.close()

    def _client(self) -> docker.DockerClient:
        return dockerengine.docker_client(self._section(), ENGINE_TIMEOUT, version="auto")
