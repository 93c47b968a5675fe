"""Service names as they appear on the bus (nameko `name`, RPC routing keys, event sources)."""

from typing import Final

API: Final = "api"
SCHEDULER: Final = "scheduler"
SCM: Final = "scm"
LOGS: Final = "logs"
CLOUD: Final = "cloud"
WORKER: Final = "worker"

# The resident nameko services: each answers `ping` and is checked by the gateway's /healthz.
# The worker is not among them: it is a run-once process per record (docs/architecture.md).
RESIDENT: Final = (SCHEDULER, SCM, LOGS, CLOUD)
