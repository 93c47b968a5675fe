"""`python -m tools.ping <service> [--timeout 2]`: liveness of one resident nameko service.

Calls the service's `ping` RPC over CYCLONE_AMQP_URI and exits 0 when it answers with status
"ok", 1 otherwise (the reason on stderr), 2 on bad arguments such as an unknown service name.
Used by the container healthchecks and the Kubernetes probes.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from shared.contracts import rpc, services

OK, FAILED = 0, 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.ping", description="Call a Cyclone service's ping RPC."
    )
    parser.add_argument("service", choices=services.RESIDENT, help="the service to ping")
    parser.add_argument(
        "--timeout", type=float, default=2.0, help="seconds to wait for the answer (default 2)"
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    return args


def ping(service: str, timeout: float) -> str | None:
    """None when `service` answers its ping with status "ok", else the reason it failed."""
    # eventlet's message starts with a newline, hence the leading \s*.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    from nameko.exceptions import RpcTimeout
    from nameko.standalone.rpc import ClusterRpcProxy

    from shared import config
    from shared.rpcreply import StandaloneReplyListener

    settings = config.load().nameko_config()
    try:
        with ClusterRpcProxy(
            settings, timeout=timeout, reply_listener_cls=StandaloneReplyListener
        ) as proxy:
            reply: Any = getattr(getattr(proxy, service), rpc.PING)()
    except RpcTimeout:
        return f"no answer within {timeout:g}s"
    except Exception as exc:  # noqa: BLE001 - any failure (broker down, unknown service) fails
        return f"{type(exc).__name__}: {exc}"
    if isinstance(reply, dict) and reply.get("status") == "ok":
        return None
    return f"unexpected answer: {reply!r}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = ping(args.service, args.timeout)
    if problem is not None:
        print(f"{args.service}: {problem}", file=sys.stderr)
        return FAILED
    return OK


if __name__ == "__main__":
    sys.exit(main())
