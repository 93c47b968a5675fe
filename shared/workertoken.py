"""Worker tokens: the proof a worker gives that it is the one launched for its record.

A build can read whatever its worker can reach (on the Local cloud as another user it cannot
read the worker's environment, but on a shared broker it may still publish). So every report
from a worker (get_job, stage and run events, heartbeats, log batches) carries a token that
only the services can make: HMAC-SHA256 of the record id under a key derived from the stack's
secret key. The cloud service hands it to the worker it launches (environment
`CYCLONE_WORKER_TOKEN`, a pod's Secret); the scheduler and the logs service check it without
storing anything. A token names one record: it cannot read or end any other.
"""

from __future__ import annotations

import hashlib
import hmac

TOKEN_ENV = "CYCLONE_WORKER_TOKEN"
FIELD = "worker_token"  # in event payloads and log batches
_PURPOSE = b"cyclone/worker-token/v1"


class WorkerTokens:
    """Issues and checks tokens; one instance per service, made from its secret key."""

    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("worker tokens need the stack's secret key")
        self._key = hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()

    def issue(self, record_id: str) -> str:
        return hmac.new(self._key, record_id.encode(), hashlib.sha256).hexdigest()

    def valid(self, record_id: object, token: object) -> bool:
        """Whether `token` is the one issued for `record_id` (constant time)."""
        if not isinstance(record_id, str) or not isinstance(token, str) or not token:
            return False
        return hmac.compare_digest(self.issue(record_id), token)


def carries_its_token(tokens: WorkerTokens | None, message: object) -> bool:
    """Whether a worker's message (event payload, log batch) names its record with that
    record's token; without a secret key nothing can be proven, so nothing is."""
    if tokens is None or not isinstance(message, dict):
        return False
    return tokens.valid(message.get("record_id"), message.get(FIELD))


def tokens_or_none(secret_key: str) -> WorkerTokens | None:
    return WorkerTokens(secret_key) if secret_key else None
