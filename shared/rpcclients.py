"""Typed views of nameko's `RpcProxy` (and standalone proxies): one per service, its Protocol.

A proxy answers any attribute at run time, so a typo or a wrong argument would only show as
a remote error. Seen through its service's Protocol (shared/contracts/rpc.py), every call is
checked by mypy against the contract, which tests/unit/test_rpc_contracts.py holds the
serving side to. The gateway's async calls have their own clients (services/api/clients.py).
"""

from __future__ import annotations

from typing import cast

from shared.contracts.artifacts import ArtifactReadsRpc, ArtifactsRpc
from shared.contracts.rpc import CloudRpc, LogsRpc, SchedulerRpc, ScmRpc


def scheduler(proxy: object) -> SchedulerRpc:
    return cast(SchedulerRpc, proxy)


def cloud(proxy: object) -> CloudRpc:
    return cast(CloudRpc, proxy)


def scm(proxy: object) -> ScmRpc:
    return cast(ScmRpc, proxy)


def logs(proxy: object) -> LogsRpc:
    return cast(LogsRpc, proxy)


def artifacts(proxy: object) -> ArtifactsRpc:
    return cast(ArtifactsRpc, proxy)


def artifact_reads(proxy: object) -> ArtifactReadsRpc:
    return cast(ArtifactReadsRpc, proxy)
