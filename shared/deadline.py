"""A nameko RPC from one service to another, given up after a deadline.

nameko's `RpcProxy` waits for an answer forever: a peer that hangs (stopped, deadlocked)
would hold the caller's worker, and a timer's, for good. Calls between services go through
`bounded` instead; the late answer, if any, is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import eventlet


class PeerSilent(TimeoutError):
    """The called service did not answer in time."""


def bounded(call: Callable[..., Any], seconds: float, what: str) -> Callable[..., Any]:
    """`call`, raising PeerSilent("... did not <what> within Ns") after `seconds`."""

    def within(*args: Any, **kwargs: Any) -> Any:
        with eventlet.Timeout(seconds, PeerSilent(f"{what} within {seconds:g}s")):
            return call(*args, **kwargs)

    return within


def again_when_silent(call: Callable[..., Any], log: Callable[[str], object]) -> Callable[..., Any]:
    """`call` (a bounded one), asked once more when its peer was silent, raising the second
    PeerSilent: for idempotent calls only. A broker failover can lose a call's answer after
    the peer acted on it; the second ask then gets that same outcome at once, while a hung
    peer is still given up, after twice the deadline."""

    def twice(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except PeerSilent as exc:
            log(f"{exc}; asking once more")
        try:
            return call(*args, **kwargs)
        except PeerSilent as exc:
            raise PeerSilent(f"{exc} (asked twice)") from exc

    return twice
