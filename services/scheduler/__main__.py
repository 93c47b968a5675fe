"""`python -m services.scheduler`: run the scheduler service against CYCLONE_AMQP_URI."""

import eventlet

eventlet.monkey_patch()

from services.scheduler.service import SchedulerService  # noqa: E402
from shared.runner import run_service  # noqa: E402

if __name__ == "__main__":
    run_service(SchedulerService)
