"""The Local backend: a worker per record as a process on the cloud service's host, its
stages' commands on that host (docs/security.md: as the build user when run by root).

`driver.py` launches, watches and stops the processes, `ping.py` answers for the host. The
worker's side: services/worker/executors/local.py.
"""

from services.cloud.backends.base import Backend
from services.cloud.backends.local.driver import KIND, drivers
from services.cloud.backends.local.ping import ping

BACKEND = Backend(kind=KIND, ping=ping, drivers=drivers)
