"""The gateway's typed RPC clients (services/api/clients.py) are the contract's Protocols
(shared/contracts/rpc.py) made async: same methods, parameters, defaults and answers."""

from __future__ import annotations

import asyncio
import inspect
import typing

import pytest

from services.api import clients
from shared.contracts import rpc

PAIRS = [
    (clients.SchedulerClient, (rpc.SchedulerRpc,)),
    (clients.CloudClient, (rpc.CloudRpc,)),
    (clients.ScmClient, (rpc.ScmRpc,)),
    (clients.LogsClient, (rpc.LogsRpc, rpc.ArtifactReadsRpc)),
]


def _methods(*classes: type) -> dict[str, object]:
    return {
        name: value
        for cls in classes
        for name, value in vars(cls).items()
        if not name.startswith("_") and inspect.isfunction(value)
    }


@pytest.mark.parametrize(("client", "protocols"), PAIRS, ids=lambda c: getattr(c, "__name__", ""))
def test_a_client_has_exactly_its_protocols_methods(
    client: type, protocols: tuple[type, ...]
) -> None:
    assert set(_methods(client)) == set(_methods(*protocols))


@pytest.mark.parametrize(("client", "protocols"), PAIRS, ids=lambda c: getattr(c, "__name__", ""))
def test_each_method_takes_and_answers_what_the_protocol_says(
    client: type, protocols: tuple[type, ...]
) -> None:
    for name, theirs in sorted(_methods(*protocols).items()):
        mine = getattr(client, name)
        assert asyncio.iscoroutinefunction(mine), f"{client.__name__}.{name} is not async"
        ours = [(p.name, p.kind, p.default) for p in inspect.signature(mine).parameters.values()]
        contract = [
            (p.name, p.kind, p.default) for p in inspect.signature(theirs).parameters.values()
        ]
        assert ours == contract, f"{client.__name__}.{name}"
        assert typing.get_type_hints(mine) == typing.get_type_hints(theirs), (
            f"{client.__name__}.{name}: parameter or answer types differ from the contract"
        )


class _Recorder:
    """A bus that records the call it is asked to make."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[object, ...], float | None]] = []

    async def call(
        self, service: str, method: str, *args: object, timeout: float | None = None
    ) -> object:
        self.calls.append((service, method, args, timeout))
        return None


def test_a_call_goes_to_the_service_and_method_of_the_contract() -> None:
    bus = _Recorder()
    every = clients.Clients(bus)  # type: ignore[arg-type]
    asyncio.run(every.scheduler.get_record("r1"))
    asyncio.run(every.scm.scm_branches({"type": "Github"}, "o/r"))
    asyncio.run(every.scm.svn_repo_info("svn://h/r", "u", "p"))
    asyncio.run(every.cloud.list_workers())
    asyncio.run(every.logs.read_artifact("r1", "f1", 0, 10))
    assert bus.calls == [
        ("scheduler", rpc.GET_RECORD, ("r1",), None),
        ("scm", rpc.SCM_BRANCHES, ({"type": "Github"}, "o/r"), clients.SCM_TIMEOUT),
        ("scm", rpc.SVN_REPO_INFO, ("svn://h/r", "u", "p"), None),
        ("cloud", rpc.LIST_WORKERS, (None,), None),
        ("logs", "read_artifact", ("r1", "f1", 0, 10), None),
    ]
