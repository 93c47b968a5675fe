"""`python -m services.api`: the gateway under gunicorn's native ASGI worker."""

from __future__ import annotations

import os
import shutil
import sys

from shared import config


def main() -> None:
    settings = config.load()
    prom_dir = settings.data_dir / "prometheus" / str(settings.port)
    shutil.rmtree(prom_dir, ignore_errors=True)  # stale files from a previous run skew metrics
    prom_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)
    host = os.environ.get("CYCLONE_HOST", "127.0.0.1")
    access_log = os.environ.get("CYCLONE_ACCESS_LOG", "-")
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
        *([] if access_log == "off" else ["--access-logfile", access_log]),
        "services.api.app:get_app()",
    ]
    os.execv(sys.executable, args)


if __name__ == "__main__":
    main()
