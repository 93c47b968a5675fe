"""`python -m services [name ...]`: several nameko services in one process (all the resident
ones by default), the single-machine default of `make run` (docs/architecture.md "One
process or several"). Each service also keeps its own entry point, `python -m
services.<name>`, to run and scale apart.
"""

import eventlet

eventlet.monkey_patch()

import importlib  # noqa: E402
import sys  # noqa: E402

from shared.contracts import services  # noqa: E402
from shared.runner import run_services  # noqa: E402

# service name -> (module, class): imported only when asked for
CLASSES = {
    services.SCHEDULER: ("services.scheduler.service", "SchedulerService"),
    services.SCM: ("services.scm.service", "ScmService"),
    services.LOGS: ("services.logs.service", "LogsService"),
    services.CLOUD: ("services.cloud.service", "CloudService"),
}
SHOWN = "services"  # the process's name in the log, outside the services' own work


def main(argv: list[str]) -> int:
    names = argv or list(services.RESIDENT)
    unknown = [name for name in names if name not in CLASSES]
    if unknown:
        print(f"unknown services {unknown}; known: {', '.join(CLASSES)}", file=sys.stderr)
        return 2
    classes = []
    for name in dict.fromkeys(names):
        module, cls = CLASSES[name]
        classes.append(getattr(importlib.import_module(module), cls))
    run_services(classes, SHOWN)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
