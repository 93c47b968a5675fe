"""The Kubernetes backend: a worker per record as a Pod of the cloud's cluster, its stages
exec'd in the pod's `builder` container (docs/architecture.md "Workers on Kubernetes").

`driver.py` launches, watches, stops and sweeps the pods, `pods.py` is what they look like
(pure), `ping.py` asks the API server. The worker's side: services/worker/executors/kubernetes.py.
"""

from services.cloud.backends.base import Backend
from services.cloud.backends.kubernetes.driver import KIND, drivers
from services.cloud.backends.kubernetes.ping import ping

BACKEND = Backend(kind=KIND, ping=ping, drivers=drivers)
