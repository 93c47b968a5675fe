"""`python -m services.scm`: run the scm service against CYCLONE_AMQP_URI."""

import eventlet

eventlet.monkey_patch()

from services.scm.service import ScmService  # noqa: E402
from shared.runner import run_service  # noqa: E402

if __name__ == "__main__":
    run_service(ScmService)
