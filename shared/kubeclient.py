"""A Kubernetes client configuration for exactly the cluster a cloud names (the cloud
service's driver and ping use it, and the worker in its pod, in-cluster), the names of the
worker pod's containers (the driver makes them, the worker execs into `builder`), and the
reading of the API's error bodies.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import urllib3

if TYPE_CHECKING:
    from kubernetes.client import Configuration

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
WORKER, BUILDER, DIND = "worker", "builder", "dind"  # the worker pod's containers


class KubeConfigError(ValueError):
    """The cloud's own settings cannot work (no host, unreadable token file, bad caData)."""


# --- client configuration ----------------------------------------------------------------------


def configuration(
    section: Mapping[str, Any],
    *,
    service_account_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Configuration:
    """The client configuration of a cloud's `kubernetes` section (secrets decrypted).

    Auth: `inCluster` uses the pod's service account (token and CA from
    `service_account_dir`, the API server from KUBERNETES_SERVICE_HOST/PORT); otherwise
    `bearerToken`, else `username` + `password` (basic). TLS: `tlsClientConfig.caFile` or
    `caData` (PEM, or base64 of PEM as in a kubeconfig) is trusted; `insecure` skips the
    server check. A host without a scheme means https. Proxy variables of the service's
    environment do not apply (as for Docker clouds).
    """
    env = os.environ if environ is None else environ
    sa_dir = Path(SERVICE_ACCOUNT_DIR if service_account_dir is None else service_account_dir)
    tls = section.get("tlsClientConfig") or {}
    # the client's package loads every API model (about 30 MB): only where a cluster is used
    from kubernetes.client import Configuration

    config = Configuration()
    if section.get("inCluster"):
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
        if not host or not port:
            raise KubeConfigError(
                "inCluster: KUBERNETES_SERVICE_HOST/PORT are not set (not running in a pod?)"
            )
        config.host = f"https://{_bracketed(host)}:{port}"
        token_file = sa_dir / "token"
        _read_token(token_file)  # fail now, not at the first request
        config.api_key = {"authorization": ""}
        config.api_key_prefix = {"authorization": "Bearer"}
        # Bound service account tokens are rotated: read the file before every request.
        config.refresh_api_key_hook = lambda c: c.api_key.update(  # type: ignore[assignment]  # declared as None, any callable is taken
            authorization=_read_token(token_file)
        )
        ca_file = sa_dir / "ca.crt"
        if ca_file.is_file() and not tls.get("caFile") and not tls.get("caData"):
            config.ssl_ca_cert = str(ca_file)
    else:
        config.host = api_url(str(section.get("host") or ""))
        if section.get("bearerToken"):
            config.api_key = {"authorization": str(section["bearerToken"])}
            config.api_key_prefix = {"authorization": "Bearer"}
        elif section.get("username"):
            config.username = str(section["username"])
            config.password = str(section.get("password") or "")
            # The generated client only sends the "authorization" api key, so the basic
            # credentials go there as a whole header value.
            config.api_key = {"authorization": config.get_basic_auth_token() or ""}
    if tls.get("caFile"):
        config.ssl_ca_cert = str(tls["caFile"])
    if tls.get("caData"):
        config.ca_cert_data = ca_pem(str(tls["caData"]))
    if tls.get("insecure"):
        config.verify_ssl = False
        config.assert_hostname = False
    config.proxy = None  # also stops the host setter from taking HTTP(S)_PROXY
    config.retries = urllib3.util.Retry(total=1, connect=1, read=0, redirect=0, status=0)
    return config


def api_url(host: str) -> str:
    host = host.strip().rstrip("/")
    if not host:
        raise KubeConfigError("the cloud names no Kubernetes host")
    return host if re.match(r"^https?://", host) else f"https://{host}"


def ca_pem(data: str) -> str:
    """caData as PEM text: given as PEM, or base64 of PEM (as a kubeconfig's CA data)."""
    if "-----BEGIN" in data:
        return data
    try:
        decoded = base64.b64decode(data, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise KubeConfigError("tlsClientConfig.caData is neither PEM nor base64 of PEM") from exc
    if "-----BEGIN" not in decoded:
        raise KubeConfigError("tlsClientConfig.caData is neither PEM nor base64 of PEM")
    return decoded


def in_cluster_namespace(service_account_dir: Path | None = None) -> str | None:
    sa_dir = Path(SERVICE_ACCOUNT_DIR if service_account_dir is None else service_account_dir)
    try:
        return (sa_dir / "namespace").read_text().strip() or None
    except OSError:
        return None


def _read_token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise KubeConfigError(f"inCluster: cannot read the service account token: {exc}") from exc
    if not token:
        raise KubeConfigError(f"inCluster: the service account token {path} is empty")
    return token


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def api_message(body: str | bytes | None) -> tuple[str, str]:
    """(reason, message) of an API error body (a Status object), tolerating anything else."""
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    try:
        data = json.loads(body or "")
    except ValueError:
        return "", (body or "").strip()[:300]
    if not isinstance(data, dict):
        return "", str(data)[:300]
    return str(data.get("reason") or ""), str(data.get("message") or "")
