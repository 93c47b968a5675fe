"""`python -m services.worker --record-id <id>` runs one record; `--check` checks the broker;
`--fork-server` imports once and forks a worker per record the cloud service hands it.

See services/worker/main.py and services/worker/forkserver.py.
"""

import sys

from shared.contracts.launch import FORK_SERVER_FLAG

if __name__ == "__main__":
    if sys.argv[1:] == [FORK_SERVER_FLAG]:
        from services.worker import forkserver

        sys.exit(forkserver.main())
    from services.worker.main import main

    sys.exit(main())
