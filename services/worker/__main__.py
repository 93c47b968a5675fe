"""`python -m services.worker --record-id <id>` runs one record; `--check` checks the broker.

See services/worker/main.py.
"""

import sys

from services.worker.main import main

if __name__ == "__main__":
    sys.exit(main())
