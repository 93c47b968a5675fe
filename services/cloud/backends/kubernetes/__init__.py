"""The Kubernetes backend: a worker per record as a Pod of the cloud's cluster, its stages
exec'd in the pod's `builder` container (docs/architecture.md "Workers on Kubernetes").

`driver.py` launches, watches, stops and sweeps the pods, `pods.py` is what they look like
(pure), `ping.py` asks the API server. The worker's side: services/worker/executors/kubernetes.py.

The Kubernetes client loads every API model as it is imported (about 40 MB and a second of
CPU), so `driver.py` and `ping.py` are imported when a Kubernetes cloud is first pinged or
served, not when the cloud service starts (docs/architecture.md "Memory").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.cloud.backends.base import Backend, DriverContext, DriverFactory
from services.cloud.backends.kubernetes import pods as kube
from shared.contracts.catalog import Cloud
from shared.contracts.rpc import PingResult

if TYPE_CHECKING:
    from services.cloud.backends.kubernetes.driver import KubernetesDriver


def ping(cloud: Cloud) -> PingResult:
    from services.cloud.backends.kubernetes.ping import ping as asked

    return asked(cloud)


def drivers(context: DriverContext) -> DriverFactory:
    """The factory of Kubernetes drivers. The pod settings are read once, here (a bad one
    stops the service at its start)."""
    settings, interval = kube.settings_from_env(context.environ, context.amqp_uri)

    def make(cloud: str) -> KubernetesDriver:
        from services.cloud.backends.kubernetes.driver import driver

        return driver(context, cloud, settings, interval)

    return make


BACKEND = Backend(kind=kube.KIND, ping=ping, drivers=drivers)
