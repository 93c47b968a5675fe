"""The Docker backend: a worker per record as a process on the cloud service's host, its
stages in containers on the cloud's Docker engine (docs/architecture.md "Workers on Docker").

`driver.py` launches, watches, stops the workers and cleans up and sweeps the engine,
`ping.py` asks the engine. The worker's side: services/worker/executors/docker.py.
"""

from services.cloud.backends.base import Backend
from services.cloud.backends.docker.driver import KIND, drivers
from services.cloud.backends.docker.ping import ping

# Its stored clouds get their drivers when the service starts: the first poll sweeps.
BACKEND = Backend(kind=KIND, ping=ping, drivers=drivers, serve_at_start=True)
