"""`python -m services.api`: the gateway under gunicorn's native ASGI worker."""

from __future__ import annotations

import os
import shutil
import sys

from shared import config
from shared.envvars import Env


def main() -> None:
    settings = config.load()
    env = Env()
    if not env.is_set("PROMETHEUS_MULTIPROC_DIR"):
        # On its own (a container of its own): the gateway's workers share a folder. Under the
        # launcher, every process of the stack shares the launcher's (shared/metrics.py).
        prom_dir = settings.data_dir / "prometheus" / str(settings.port)
        shutil.rmtree(prom_dir, ignore_errors=True)  # a previous run's files skew the sums
        prom_dir.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)
    host = env.text("CYCLONE_HOST", "127.0.0.1")
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "-k",
        "services.api.server.GatewayWorker",
        "-w",
        str(settings.api_workers),
        "-b",
        f"{host}:{settings.port}",
        "--no-control-socket",
        "--graceful-timeout",
        "5",
        # One log format: gunicorn's own lines go through shared/logsetup.py; the access line
        # is the gateway's (services/api/correlation.py), with the request id.
        "--logger-class",
        "services.api.server.GatewayLogger",
        "services.api.app:get_app()",
    ]
    os.execv(sys.executable, args)


if __name__ == "__main__":
    main()
