"""`python -m services.worker --check`: verify the broker is reachable from here.

Container images and pods run this as a smoke test: a worker that cannot reach the broker
can report nothing. Running a record (`--record-id`) comes with the runs capability.
"""

from __future__ import annotations

import argparse
import sys

from kombu import Connection

from shared import config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.worker")
    parser.add_argument("--check", action="store_true", help="check the broker and exit")
    args = parser.parse_args(argv)
    if not args.check:
        parser.print_usage(sys.stderr)
        return 2
    uri = config.load().amqp_uri
    try:
        with Connection(uri, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - reported as the check's result
        print(f"broker unreachable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("broker ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
