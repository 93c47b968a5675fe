"""RPC methods each resident service answers, and the shape of their answers."""

from typing import Final, Protocol, TypedDict

PING: Final = "ping"


class PingReply(TypedDict):
    service: str
    status: str
    pid: int


class Pingable(Protocol):
    """Every resident service answers `ping`; /healthz and readiness probes call it."""

    def ping(self) -> PingReply: ...
