"""Each service answers exactly the RPC methods its Protocol in shared/contracts/rpc.py
declares, with the same parameters: a caller typed against the Protocol cannot call what the
service does not serve, nor pass what it does not take."""

from __future__ import annotations

import inspect
from typing import Protocol

import pytest
from nameko.rpc import Rpc

from services.cloud.service import CloudService
from services.logs.service import LogsService
from services.scheduler.service import SchedulerService
from services.scm.service import ScmService
from shared.contracts import rpc

SERVED = [
    (SchedulerService, (rpc.SchedulerRpc, rpc.Pingable)),
    (CloudService, (rpc.CloudRpc, rpc.Pingable)),
    (ScmService, (rpc.ScmRpc, rpc.Pingable)),
    (LogsService, (rpc.LogsRpc, rpc.ArtifactsRpc, rpc.ArtifactReadsRpc, rpc.Pingable)),
]


def protocol_methods(protocol: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(protocol).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }


def served_methods(service: type) -> dict[str, inspect.Signature]:
    """The service's methods that nameko serves over RPC."""
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(service, inspect.isfunction)
        if any(isinstance(e, Rpc) for e in getattr(member, "nameko_entrypoints", ()))
    }


def shape(sig: inspect.Signature) -> list[tuple[str, object, object]]:
    """Parameter names, kinds and defaults (annotations differ in spelling, not meaning)."""
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


@pytest.mark.parametrize(("service", "protocols"), SERVED, ids=lambda v: getattr(v, "name", ""))
def test_a_service_serves_exactly_its_protocols(
    service: type, protocols: tuple[type[Protocol], ...]
) -> None:
    declared: dict[str, inspect.Signature] = {}
    for protocol in protocols:
        declared.update(protocol_methods(protocol))
    served = served_methods(service)
    assert sorted(served) == sorted(declared), "served RPCs differ from the Protocols"
    for name, sig in declared.items():
        assert shape(served[name]) == shape(sig), f"{service.__name__}.{name}"


def test_the_check_can_fail() -> None:
    """A method whose parameters differ from its Protocol's is caught."""

    class Drifted(Protocol):
        def ping(self, verbose: bool) -> rpc.PingReply: ...

    assert shape(protocol_methods(Drifted)["ping"]) != shape(
        served_methods(SchedulerService)["ping"]
    )
