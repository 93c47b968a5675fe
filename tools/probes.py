"""What the launcher asks of the broker and the database before the stack starts, and the
secret key it makes on a first start, done in a child process (`python -m tools.probes`, one
JSON request on stdin, one JSON answer on stdout): their libraries (kombu, pymongo,
cryptography) would otherwise stay in the launcher's memory for the stack's whole life,
about 14 MB of the idle stack, or 22 MB on a first start (bench/memory.py). Secrets travel
on stdin, never on the command line (a build on this host can read every process's).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def amqp_problem(uri: str) -> str | None:
    """None when the broker of `uri` takes a connection, else why not."""
    from kombu import Connection

    try:
        with Connection(uri, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - reported to the operator as is
        return f"{type(exc).__name__}: {exc}"
    return None


def make_user(url: str, user: str, password: str) -> None:
    """The database's root user, on a server running without --auth."""
    from pymongo import MongoClient

    with MongoClient[dict[str, object]](url, serverSelectionTimeoutMS=10000) as client:
        client.admin.command("createUser", user, pwd=password, roles=["root"])


def ask(request: dict[str, str]) -> Any:
    """Run one probe in a child process; its answer, or RuntimeError with its failure."""
    done = subprocess.run(
        [sys.executable, "-m", "tools.probes"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{request['probe']} probe failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)["answer"]


def main() -> int:
    request = json.loads(sys.stdin.read())
    if request["probe"] == "amqp":
        answer: object = amqp_problem(request["uri"])
    elif request["probe"] == "secret-key":
        from shared.crypto import SecretBox

        answer = SecretBox.generate_key()
    elif request["probe"] == "mongo-user":
        make_user(request["url"], request["user"], request["password"])
        answer = None
    else:
        print(f"unknown probe {request['probe']!r}", file=sys.stderr)
        return 2
    print(json.dumps({"answer": answer}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
