"""Ping the Local cloud: this host answers for itself."""

from __future__ import annotations

import platform

from services.cloud.backends import pinging
from shared.contracts.catalog import Cloud
from shared.contracts.rpc import PingResult


def ping(cloud: Cloud) -> PingResult:
    return pinging.ok(
        f"local {platform.system()} {platform.release()}, python {platform.python_version()}"
    )
