"""Where a stage's commands run: the worker's side of each cloud backend, one module each,
chosen by the cloud type of the worker's launch (shared/contracts/launch.py) from `EXECUTORS`.

`local` runs them on the worker's host, `docker` in the pipeline's builder container on the
cloud's Docker engine, `kubernetes` in the pod's `builder` container. Each module has an
`Executor` (base.py) and `set_up(setting)`, which makes it or raises SetupError. The registry
names modules rather than importing them: a worker imports only its own executor (the docker
SDK or the Kubernetes client cost a Local worker's start otherwise).

The cloud service's side of the same backends is services/cloud/backends; the two share only
the launch contract, so the worker deployable never imports the cloud service.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final, cast

from services.worker.executors.base import SPOOL, Executor, Setting, SetupError
from services.worker.executors.local import HostExecutor
from shared.contracts.launch import CloudType, WorkerLaunch

if TYPE_CHECKING:
    from services.worker.engine import Engine

__all__ = [
    "EXECUTORS",
    "SPOOL",
    "Executor",
    "HostExecutor",
    "Setting",
    "SetupError",
    "open_engine",
    "set_up",
]

# cloud type -> the module of its executor (with `set_up(setting) -> Executor`)
EXECUTORS: Final[Mapping[CloudType, str]] = {
    "Local": "services.worker.executors.local",
    "Docker": "services.worker.executors.docker",
    "Kubernetes": "services.worker.executors.kubernetes",
}


def set_up(setting: Setting) -> Executor:
    """The executor of the launch's cloud type; SetupError when it cannot be made."""
    module = importlib.import_module(EXECUTORS[setting.launch.cloud_type])
    make = cast(Callable[[Setting], Executor], module.set_up)
    return make(setting)


def open_engine(
    launched: WorkerLaunch, record_id: str, project: str, pipeline: str
) -> Engine | None:
    """The Docker engine the launch names (the image stages', and a Docker cloud's builder),
    None when it names none (the docker SDK is not even imported then); SetupError when the
    engine's settings cannot work."""
    if launched.docker is None:
        return None
    import docker.errors

    from services.worker.engine import Engine
    from shared.dockerengine import CloudUnusable

    try:
        return Engine.of_launch(launched, record_id, project, pipeline)
    except (CloudUnusable, docker.errors.DockerException) as exc:
        raise SetupError(f"the cloud's Docker engine is unusable: {exc}") from exc
