"""The `ping` RPC every resident service exposes (liveness for /healthz and probes), and the
log context every one of their workers gets (shared/logcontext.py)."""

import os

from shared.contracts.rpc import PingReply
from shared.logcontext import Binder, LogContext
from shared.rpcqueue import rpc


class PingMixin:
    """Mixed into each service class; `name` comes from the service."""

    name: str
    log_context: Binder = LogContext()  # nameko injects a Binder in its place

    @rpc
    def ping(self) -> PingReply:
        return {"service": self.name, "status": "ok", "pid": os.getpid()}
