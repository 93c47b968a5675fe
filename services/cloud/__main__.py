"""`python -m services.cloud`: run the cloud service against CYCLONE_AMQP_URI."""

import eventlet

eventlet.monkey_patch()

from services.cloud.service import CloudService  # noqa: E402
from shared.runner import run_service  # noqa: E402

if __name__ == "__main__":
    run_service(CloudService)
