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
