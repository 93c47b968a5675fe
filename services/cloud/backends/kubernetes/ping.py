"""Ping a Kubernetes cloud: the API server's `/version`, asked with the cloud's own auth and
TLS (the client's sockets are green under the service's monkey patching)."""

from __future__ import annotations

import json

from kubernetes.client import ApiClient, VersionApi
from kubernetes.client.exceptions import ApiException

from services.cloud.backends import pinging
from services.cloud.backends.kubernetes import pods as kube
from shared.contracts.catalog import Cloud
from shared.contracts.rpc import PingResult


def ping(cloud: Cloud) -> PingResult:
    """The API server's version (`GET /version`), asked with the cloud's auth and TLS."""
    section = cloud.get("kubernetes") or {}
    where = "the in-cluster API server" if section.get("inCluster") else "?"
    try:
        config = kube.configuration(section)
        where = f"Kubernetes API at {config.host}"
        config.retries = False  # one try: a ping answers within TIMEOUT
        with ApiClient(config) as client:
            answer = VersionApi(client).get_code(
                _request_timeout=pinging.TIMEOUT, _preload_content=False
            )
            found = json.loads(answer.data)  # type: ignore[attr-defined]  # unparsed: a urllib3 response
    except kube.KubeConfigError as exc:
        return pinging.error(f"Kubernetes: {exc}")
    except ApiException as exc:
        if not exc.status:  # the client's wrapping of a transport error (TLS, ...)
            return pinging.error(f"{where}: {_api_server(pinging.reason(exc.__context__ or exc))}")
        why, message = kube.api_message(exc.body)
        return pinging.error(
            pinging.shorten(f"{where}: HTTP {exc.status}: {message or why or exc.reason}")
        )
    except ValueError:
        return pinging.error(f"{where}: the answer is not a Kubernetes API server's")
    except Exception as exc:  # noqa: BLE001 - whatever went wrong is the ping's answer
        return pinging.error(f"{where}: {_api_server(pinging.reason(exc))}")
    if not isinstance(found, dict) or "gitVersion" not in found:
        return pinging.error(f"{where}: the answer is not a Kubernetes API server's")
    return pinging.ok(f"Kubernetes {found['gitVersion']} ({found.get('platform', '?')})")


def _api_server(text: str) -> str:
    return text.replace("the engine", "the API server")
