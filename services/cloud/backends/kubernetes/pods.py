"""Pure rules of the Kubernetes driver: worker pod, its Secret and its access (ServiceAccount,
Role, RoleBinding), pod state (the client's configuration is shared with the worker:
shared/kubeclient.py). The worker's environment is its launch (shared/contracts/launch.py):
credentials in the Secret, the rest in the pod, its pod's name and namespace from the
downward API.

No nameko, no pymongo, no requests to a cluster here: every function takes plain data (the
cloud's `kubernetes` section, a placement, the API's JSON) and returns plain data or a client
`Configuration`, so the rules are unit-tested without a cluster. The pod layout is described in
docs/architecture.md ("Workers on Kubernetes").
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.cloud import domain
from shared import brokers
from shared.contracts import launch
from shared.contracts.launch import WorkerLaunch
from shared.contracts.rpc import Placement
from shared.kubeclient import (  # noqa: F401 - the driver's and probes' names for them
    BUILDER,
    DIND,
    SERVICE_ACCOUNT_DIR,
    WORKER,
    KubeConfigError,
    api_message,
    api_url,
    ca_pem,
    configuration,
    in_cluster_namespace,
)

KIND = "kubernetes"  # the driver kind its workers are stored with
WORKSPACE = "/workspace"
DIND_HOST = "tcp://localhost:2375"
DONE_FILE = f"{WORKSPACE}/.cyclone/done"  # the worker may create it to let `builder` end
MANAGED = {"app.kubernetes.io/managed-by": "cyclone", "app.kubernetes.io/name": "cyclone-worker"}
RECORD_LABEL = "cyclone.io/record"
CLOUD_LABEL = "cyclone.io/cloud"
PROJECT_LABEL = "cyclone.io/project"
PIPELINE_LABEL = "cyclone.io/pipeline"
# The project's quota keys (spec: worker.quota) and where each goes in a container's resources.
QUOTA_KEYS = {
    "requests.cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"),
    "limits.memory": ("limits", "memory"),
}
DEFAULT_QUOTA = {
    "requests.cpu": "500m",
    "requests.memory": "512Mi",
    "limits.cpu": "1",
    "limits.memory": "1Gi",
}
# The worker process itself only talks to the broker and the API server.
WORKER_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
# Waiting reasons of a container that will not start without someone changing something.
STUCK = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class PodSettings:
    """The cloud service's settings for worker pods (CYCLONE_* variables, see README)."""

    amqp_uri: str  # the broker URL as seen from inside the cluster
    quorum_queues: bool = False  # the log ingest queue's type (shared/brokers.py)
    worker_image: str = "cyclone/worker:latest"
    default_builder_image: str = "busybox:stable"
    dind: bool = False
    dind_image: str = "docker:dind"
    default_quota: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_QUOTA))


# --- the worker pod and its Secret ----------------------------------------------------------


def namespace_of(placement: Placement | Mapping[str, Any], section: Mapping[str, Any]) -> str:
    """The project's namespace when it names one, else the cloud's."""
    namespace = str(placement.get("namespace") or section.get("namespace") or "").strip()
    if not namespace:
        raise KubeConfigError("neither the project nor the cloud names a namespace")
    return namespace


def label_value(text: str) -> str:
    """A valid label value carrying as much of `text` as fits (annotations keep it whole)."""
    value = _LABEL_VALUE.sub("-", text)[:63]
    return value.strip("-_.")


def labels(record_id: str, cloud: str, project: str, pipeline: str) -> dict[str, str]:
    return {
        **MANAGED,
        RECORD_LABEL: record_id,
        CLOUD_LABEL: label_value(cloud),
        PROJECT_LABEL: label_value(project),
        PIPELINE_LABEL: label_value(pipeline),
    }


def selector(cloud: str) -> str:
    """The label selector of every worker pod of a cloud."""
    return ",".join(f"{k}={v}" for k, v in {**MANAGED, CLOUD_LABEL: label_value(cloud)}.items())


def resources(quota: Mapping[str, str] | None, default: Mapping[str, str]) -> dict[str, Any]:
    """Container resources from a project's quota; keys it leaves out take the default."""
    merged = {**default, **{k: v for k, v in (quota or {}).items() if v}}
    out: dict[str, dict[str, str]] = {}
    for key, value in merged.items():
        if key in QUOTA_KEYS:
            kind, name = QUOTA_KEYS[key]
            out.setdefault(kind, {})[name] = str(value)
    return out


def secret_manifest(
    record_id: str,
    namespace: str,
    meta_labels: Mapping[str, str],
    amqp_uri: str,
    worker_token: str = "",
) -> dict[str, Any]:
    """The worker's credentials: the broker URL (it carries the broker's password) and the
    record's worker token (shared/workertoken.py); only the worker container reads them."""
    data = WorkerLaunch(amqp_uri=amqp_uri, token=worker_token).to_env(secret=True)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": domain.worker_name(record_id),
            "namespace": namespace,
            "labels": dict(meta_labels),
        },
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


# --- the worker's access: a ServiceAccount, Role and RoleBinding of its own -----------------

RBAC_API = "rbac.authorization.k8s.io/v1"


def worker_rules(pod_name: str) -> list[dict[str, Any]]:
    """What a worker may do with the API: read its own pod and exec into it (the websocket
    exec is a GET that needs `create` too), nothing of any other pod."""
    return [
        {"apiGroups": [""], "resources": ["pods"], "resourceNames": [pod_name], "verbs": ["get"]},
        {
            "apiGroups": [""],
            "resources": ["pods/exec"],
            "resourceNames": [pod_name],
            "verbs": ["create", "get"],
        },
    ]


def access_manifests(
    record_id: str, namespace: str, meta_labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The worker pod's own ServiceAccount, the Role naming only its pod, and their
    RoleBinding, in the order they are created (deleted in reverse with the pod). All three
    share the pod's name, so build code that got one worker's token reaches no other pod."""
    name = domain.worker_name(record_id)

    def meta() -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "labels": dict(meta_labels)}

    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(),
            # The pod mounts its token in the worker container alone (SA_TOKEN_VOLUME).
            "automountServiceAccountToken": False,
        },
        {"apiVersion": RBAC_API, "kind": "Role", "metadata": meta(), "rules": worker_rules(name)},
        {
            "apiVersion": RBAC_API,
            "kind": "RoleBinding",
            "metadata": meta(),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]


# The service account's token, CA and namespace, as Kubernetes would mount them, for the
# worker container alone (the pod mounts none automatically).
SA_TOKEN_MOUNT: dict[str, Any] = {
    "name": "worker-token",
    "mountPath": str(SERVICE_ACCOUNT_DIR),
    "readOnly": True,
}
SA_TOKEN_VOLUME: dict[str, Any] = {
    "name": "worker-token",
    "projected": {
        "defaultMode": 0o444,
        "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
            {
                "configMap": {
                    "name": "kube-root-ca.crt",
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }
            },
            {
                "downwardAPI": {
                    "items": [
                        {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}
                    ]
                }
            },
        ],
    },
}


# Launch variables the pod itself gives its worker (the downward API), by field path.
DOWNWARD_ENV = {launch.POD_NAME: "metadata.name", launch.POD_NAMESPACE: "metadata.namespace"}


def worker_launch(record_id: str, settings: PodSettings) -> WorkerLaunch:
    """The worker container's launch, but for what the Secret and the downward API give it:
    stages exec'd in `builder`, the workspace shared with it."""
    return WorkerLaunch(
        cloud_type="Kubernetes",
        record_id=record_id,
        quorum_queues=settings.quorum_queues,
        workspace=WORKSPACE,
        builder_container=BUILDER,
    )


def pod_manifest(
    record_id: str,
    project: str,
    pipeline: str,
    cloud: str,
    placement: Placement | Mapping[str, Any],
    namespace: str,
    settings: PodSettings,
) -> dict[str, Any]:
    """The worker pod of a record: containers `worker`, `builder` and (optionally) `dind`."""
    name = domain.worker_name(record_id)
    meta_labels = labels(record_id, cloud, project, pipeline)
    quota = resources(placement.get("quota"), settings.default_quota)
    workspace = {"name": "workspace", "mountPath": WORKSPACE}
    plain = worker_launch(record_id, settings).to_env(secret=False)
    worker_env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in plain.items()]
    worker_env += [
        {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}
        for name, path in DOWNWARD_ENV.items()
    ]
    builder_env: list[dict[str, Any]] = []
    if settings.dind:
        worker_env.append({"name": "DOCKER_HOST", "value": DIND_HOST})
        builder_env.append({"name": "DOCKER_HOST", "value": DIND_HOST})
    builder: dict[str, Any] = {
        "name": BUILDER,
        "image": str(placement.get("builderImage") or settings.default_builder_image),
        # Sleeps until the pod is deleted or the worker says it is done; stages are run in it
        # through the exec API.
        "command": [
            "sh",
            "-c",
            f"trap 'exit 0' TERM INT; while [ ! -e {DONE_FILE} ]; do sleep 1; done",
        ],
        "workingDir": WORKSPACE,
        "resources": quota,
        "volumeMounts": [workspace],
    }
    if builder_env:
        builder["env"] = builder_env
    containers: list[dict[str, Any]] = [
        {
            "name": WORKER,
            "image": settings.worker_image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["python", "-m", "services.worker"],
            "args": ["--record-id", record_id],
            "workingDir": WORKSPACE,
            "envFrom": [{"secretRef": {"name": name}}],
            "env": worker_env,
            "resources": WORKER_RESOURCES,
            "volumeMounts": [workspace, SA_TOKEN_MOUNT],
        },
        builder,
    ]
    volumes: list[dict[str, Any]] = [{"name": "workspace", "emptyDir": {}}, SA_TOKEN_VOLUME]
    if settings.dind:
        containers.append(
            {
                "name": DIND,
                "image": settings.dind_image,
                # An empty DOCKER_TLS_CERTDIR makes docker:dind listen on plain tcp 2375;
                # only containers of this pod reach it (localhost).
                "env": [{"name": "DOCKER_TLS_CERTDIR", "value": ""}],
                "securityContext": {"privileged": True},
                "resources": quota,
                "volumeMounts": [workspace, {"name": "docker", "mountPath": "/var/lib/docker"}],
            }
        )
        volumes.append({"name": "docker", "emptyDir": {}})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": meta_labels,
            "annotations": {
                "cyclone.io/record": record_id,
                "cyclone.io/project": project,
                "cyclone.io/pipeline": pipeline,
                "cyclone.io/cloud": cloud,
            },
        },
        "spec": {
            "restartPolicy": "Never",
            # Its own account (access_manifests): exec into this pod and no other.
            "serviceAccountName": name,
            # Only the worker container gets the account's token (SA_TOKEN_VOLUME): build
            # code in `builder` (and `dind`) must not exec into pods with it.
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 10,
            "containers": containers,
            "volumes": volumes,
        },
    }


# --- what the API says ----------------------------------------------------------------------


@dataclass(frozen=True)
class PodEnd:
    """A worker pod that is done: the worker's exit code when known, and why."""

    exit_code: int | None
    reason: str


def pod_end(pod: Mapping[str, Any]) -> PodEnd | None:
    """Whether a worker pod has ended (None: it still runs or may still start).

    The run ends with the `worker` container, even while `builder` (and `dind`) still run:
    Succeeded or Failed pods, a terminated `worker`, an evicted pod, and a container that
    cannot start without a change (bad image, missing Secret) all end it.
    """
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    worker = _container_status(status, WORKER)
    terminated = ((worker or {}).get("state") or {}).get("terminated")
    if status.get("reason") == "Evicted" or (phase == "Failed" and not terminated):
        why = status.get("reason") or "Failed"
        message = status.get("message") or ""
        return PodEnd(None, f"pod {why.lower()}: {message}" if message else f"pod {why.lower()}")
    if terminated:
        code = terminated.get("exitCode")
        code = int(code) if isinstance(code, int) else None
        text = domain.exit_reason(code)
        extra = [
            terminated.get(k) for k in ("reason", "message") if terminated.get(k) not in ("", None)
        ]
        if extra and extra != ["Completed"] and not (code and extra == ["Error"]):
            text += f" ({': '.join(str(e) for e in extra)})"
        return PodEnd(code, text)
    if phase in ("Succeeded", "Failed"):
        return PodEnd(None, f"pod {phase.lower()}")
    for item in status.get("containerStatuses") or []:
        waiting = (item.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STUCK:
            message = waiting.get("message") or ""
            text = f"container {item.get('name')} cannot start: {waiting['reason']}"
            return PodEnd(None, f"{text}: {message}" if message else text)
    return None


def pod_status(pod: Mapping[str, Any]) -> str:
    """The worker's status as WorkerInfo shows it: the pod's phase."""
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _container_status(status: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    return next((c for c in status.get("containerStatuses") or [] if c.get("name") == name), None)


def exceeds_quota(status: int, body: str | bytes | None) -> bool:
    """A create refused because a ResourceQuota has no room now (it may have later).

    The API server answers 403 Forbidden with "exceeded quota: ..." in the message; other 403s
    (no permission, or "must specify limits.cpu" of a quota) will not pass by waiting.
    """
    return status == 403 and "exceeded quota" in api_message(body)[1]


# --- settings -----------------------------------------------------------------------------------


def settings_from_env(environ: Mapping[str, str], amqp_uri: str) -> tuple[PodSettings, float]:
    """The worker pod settings and the poll interval from CYCLONE_* variables (README)."""
    defaults = PodSettings(amqp_uri=amqp_uri)
    settings = PodSettings(
        amqp_uri=environ.get("CYCLONE_KUBE_WORKER_AMQP_URI") or amqp_uri,
        worker_image=environ.get("CYCLONE_WORKER_IMAGE") or defaults.worker_image,
        default_builder_image=(
            environ.get("CYCLONE_KUBE_BUILDER_IMAGE") or defaults.default_builder_image
        ),
        dind=(environ.get("CYCLONE_KUBE_DIND") or "").strip().lower() in ("1", "true", "yes"),
        dind_image=environ.get("CYCLONE_KUBE_DIND_IMAGE") or defaults.dind_image,
        # as the services decide it, from their own broker URI (the logs service declares it)
        quorum_queues=brokers.quorum_wanted(environ, amqp_uri),
    )
    try:
        interval = float(environ.get("CYCLONE_KUBE_POLL_INTERVAL") or 2)
    except ValueError as exc:
        raise ValueError("CYCLONE_KUBE_POLL_INTERVAL must be a number of seconds") from exc
    return settings, max(interval, 0.0)
