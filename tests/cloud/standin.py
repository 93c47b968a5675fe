"""A stand-in for `python -m services.worker`: notes how it was started, sleeps, exits.

Started as `python standin.py --record-id <id>` (the Local driver appends the id). The test
may write `$CYCLONE_DATA_DIR/<id>.plan` first: "<seconds> <exit code>" (default "30 0").
It writes `$CYCLONE_DATA_DIR/<id>.seen.json`: argv, cwd, pid, pgid and the CYCLONE_* env.
It exits early, with the planned code, once the test writes `$CYCLONE_DATA_DIR/<id>.release`
(helpers.release): a worker that ends exactly when the test says, not after some time.
"""

import json
import os
import sys
import time
from pathlib import Path

record_id = sys.argv[sys.argv.index("--record-id") + 1]
data = Path(os.environ["CYCLONE_DATA_DIR"])
plan_file = data / f"{record_id}.plan"
plan = plan_file.read_text().split() if plan_file.exists() else []
seconds = float(plan[0]) if plan else 30.0
code = int(plan[1]) if len(plan) > 1 else 0
seen = {
    "argv": sys.argv,
    "cwd": os.getcwd(),
    "pid": os.getpid(),
    "pgid": os.getpgid(0),
    "sid": os.getsid(0),
    "env": {k: v for k, v in os.environ.items() if k.startswith(("CYCLONE_", "PYTHONPATH"))},
}
tmp = data / f"{record_id}.seen.tmp"
tmp.write_text(json.dumps(seen))
tmp.rename(data / f"{record_id}.seen.json")
print(f"stand-in for {record_id} running", flush=True)
released = data / f"{record_id}.release"
deadline = time.monotonic() + seconds
while time.monotonic() < deadline and not released.exists():
    time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
sys.exit(code)
