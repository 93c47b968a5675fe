"""`python -m services.worker --record-id <id>` runs one record; `--check` checks the broker;
`--standby` waits, imported, for the record the cloud service hands it.

See services/worker/main.py and services/worker/standby.py.
"""

import sys

from shared.contracts.launch import STANDBY_FLAG

if __name__ == "__main__":
    if sys.argv[1:] == [STANDBY_FLAG]:
        from services.worker import standby

        sys.exit(standby.main())
    from services.worker.main import main

    sys.exit(main())
