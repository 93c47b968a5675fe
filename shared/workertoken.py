"""Worker tokens: the proof a worker gives that it is the one launched for its record.

A build can read whatever its worker can reach (on the Local cloud as another user it cannot
read the worker's environment, but on a shared broker it may still publish). So every report
from a worker (get_job, stage and run events, heartbeats, log batches) carries a token that
only the services can make: HMAC-SHA256 of the record id under a key derived from the stack's
secret key. The cloud service hands it to the worker it launches (environment
`CYCLONE_WORKER_TOKEN`, a pod's Secret); the scheduler checks it without storing anything. Log
batches carry a signature made with it instead (batch_mac), which the logs service checks. A
token names one record: it cannot read or end any other.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from shared import fastjson

TOKEN_ENV = "CYCLONE_WORKER_TOKEN"
FIELD = "worker_token"  # in event payloads (the events exchange is the services' to read)
MAC_FIELD = "worker_mac"  # in log batches, whose exchange a worker's broker user can read
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

    def read_grant(self, source_id: str, reader_id: str) -> str:
        """The right of `reader_id`'s worker to read what `source_id` kept (its artifacts):
        a rerun restores the artifacts of the record it reruns. It grants reading only, and
        only to that reader; it is no token of either record."""
        message = f"read-artifacts:{source_id}:{reader_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def grant_valid(self, source_id: object, reader_id: object, grant: object) -> bool:
        if not all(isinstance(v, str) and v for v in (source_id, reader_id, grant)):
            return False
        expected = self.read_grant(str(source_id), str(reader_id))
        return hmac.compare_digest(expected, str(grant))


def batch_mac(token: str, batch: Mapping[str, Any]) -> str:
    """A log batch's signature under its record's token.

    Log batches carry this, not the token: the worker's broker user must be able to read the
    log exchange it declares, so whoever holds those credentials could bind a queue and copy
    batches; a copied signature proves nothing for another batch (and a replayed batch is a
    duplicate the logs service drops by its sequence number).
    """
    # ASCII, so lone surrogates (from JSON escapes) serialise the same at both ends
    canonical = fastjson.ascii_dumps(
        [
            batch.get("record_id"),
            batch.get("seq"),
            batch.get("stage"),
            batch.get("task") or "",
            batch.get("lines"),
            bool(batch.get("eof")),
        ]
    )
    return hmac.new(token.encode(), canonical, hashlib.sha256).hexdigest()


def batch_signed(tokens: WorkerTokens | None, batch: object) -> bool:
    """Whether a log batch is signed with its record's token (see batch_mac)."""
    if tokens is None or not isinstance(batch, dict):
        return False
    record_id, mac = batch.get("record_id"), batch.get(MAC_FIELD)
    if not isinstance(record_id, str) or not isinstance(mac, str):
        return False
    try:
        expected = batch_mac(tokens.issue(record_id), batch)
    except (TypeError, ValueError):  # not JSON-serialisable: not a batch a worker made
        return False
    return hmac.compare_digest(expected, mac)


def tokens_or_none(secret_key: str) -> WorkerTokens | None:
    return WorkerTokens(secret_key) if secret_key else None
