"""The `ping` RPC every resident service exposes (liveness for /healthz and probes)."""

import os

from nameko.rpc import rpc

from shared.contracts.rpc import PingReply


class PingMixin:
    """Mixed into each service class; `name` comes from the service."""

    name: str

    @rpc
    def ping(self) -> PingReply:
        return {"service": self.name, "status": "ok", "pid": os.getpid()}
