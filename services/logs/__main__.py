"""`python -m services.logs`: run the logs service against CYCLONE_AMQP_URI."""

import eventlet

eventlet.monkey_patch()

from services.logs.service import LogsService  # noqa: E402
from shared.runner import run_service  # noqa: E402

if __name__ == "__main__":
    run_service(LogsService)
