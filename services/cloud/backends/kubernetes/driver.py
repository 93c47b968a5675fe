"""The Kubernetes driver: each worker is a Pod in its project's or cloud's namespace, with a
Secret (its broker URL and token) and its own ServiceAccount, Role and RoleBinding, which let
that worker exec into its own pod and no other.

What the pod looks like is `pods.py` (pure); this module talks to the API server
through the official client. The driver reads its cloud (secrets decrypted) on every start and
poll, so a replaced cloud (a rotated token) is used at once.

Watching is by listing: `poll` is a pull made by the service's timer, so at most every
`poll_interval` seconds it lists the pods of this cloud (one request per namespace in use, by
label) and ends the workers whose pod is done (`kube.pod_end`) or gone. Unlike a watch stream
this holds no connection, needs no resync after a restart and cannot miss a transition that
happened while the service was down. An ended worker's pod is deleted (its sidecars would
otherwise keep it alive), then its companions: the Secret, RoleBinding, Role and ServiceAccount.

A pod that a ResourceQuota cannot fit now is refused with `CapacityExceeded`: the scheduler
keeps the record Pending and tries again later (docs/architecture.md).
"""

from __future__ import annotations

import builtins
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api, RbacAuthorizationV1Api
from kubernetes.client.exceptions import ApiException

from services.cloud import domain
from services.cloud.backends.base import (
    DriverContext,
    ExitReport,
    Handle,
    SavedWorker,
)
from services.cloud.backends.kubernetes import pods as kube
from shared.contracts.catalog import Cloud
from shared.contracts.errors import CapacityExceeded, InvalidRequest
from shared.contracts.rpc import Job, Placement, WorkerInfo
from shared.timefmt import now
from shared.workertoken import WorkerTokens

log = logging.getLogger(__name__)

KIND = kube.KIND

REQUEST_TIMEOUT = 10.0  # seconds for one API request
# What each worker pod comes with, all named as the pod, in the order they are deleted.
COMPANIONS = ("Secret", "RoleBinding", "Role", "ServiceAccount")
# Each companion's API group and the noun of its client methods (`create_namespaced_<noun>`).
COMPANION_API = {
    "Secret": ("core", "secret"),
    "ServiceAccount": ("core", "service_account"),
    "Role": ("rbac", "role"),
    "RoleBinding": ("rbac", "role_binding"),
}


def companion_call(api: CoreV1Api, kind: str, verb: str) -> Callable[..., Any]:
    """The client method that does `verb` (create, delete) to a companion of that kind."""
    group, noun = COMPANION_API[kind]
    client: Any = api if group == "core" else RbacAuthorizationV1Api(api.api_client)
    return getattr(client, f"{verb}_namespaced_{noun}")


STOP_REASON = " (stop requested)"

CloudSource = Callable[[], Cloud]  # the stored cloud, secrets decrypted


@dataclass
class _Pod:
    record_id: str
    project: str
    pipeline: str
    namespace: str
    name: str
    started_at: datetime
    seen_at: datetime
    phase: str = "Pending"
    stop_requested: bool = False


class KubernetesDriver:
    """Workers as pods of one Kubernetes cloud; see the module docstring."""

    kind = KIND

    def __init__(
        self,
        cloud: str,
        source: CloudSource,
        settings: kube.PodSettings,
        *,
        poll_interval: float = 2.0,
        service_account_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        tokens: WorkerTokens | None = None,
    ) -> None:
        self.cloud = cloud
        self._tokens = tokens
        self.settings = settings
        self.poll_interval = poll_interval
        self._source = source
        self._sa_dir = service_account_dir
        self._environ = environ
        self._clock = clock
        self._workers: dict[str, _Pod] = {}
        self._last_poll = float("-inf")
        self._client_key: str | None = None
        self._api: CoreV1Api | None = None

    # --- the Driver interface -----------------------------------------------------------------

    def start(
        self,
        record_id: str,
        project: str,
        pipeline: str,
        placement: Placement,
        *,
        job: Job | None = None,  # not handed: a pod's worker asks get_job
    ) -> WorkerInfo:
        domain.check_record_id(record_id)
        if (known := self._workers.get(record_id)) is not None:
            return self._info(known)
        api, section = self._connect()
        try:
            namespace = kube.namespace_of(placement, self._with_namespace(section))
        except kube.KubeConfigError as exc:
            raise InvalidRequest(f"cloud {self.cloud}: {exc}") from exc
        pod = kube.pod_manifest(
            record_id, project, pipeline, self.cloud, placement, namespace, self.settings
        )
        token = self._tokens.issue(record_id) if self._tokens else ""
        meta_labels = pod["metadata"]["labels"]
        secret = kube.secret_manifest(
            record_id, namespace, meta_labels, self.settings.amqp_uri, token
        )
        name = pod["metadata"]["name"]
        # The companions first (the pod names its Secret and ServiceAccount), then the pod. A
        # refusal deletes those made before it; no answer, that one too (it may exist).
        made: list[str] = []
        for body in [secret, *kube.access_manifests(record_id, namespace, meta_labels)]:
            kind = body["kind"]
            try:
                create = companion_call(api, kind, "create")
                create(namespace, body, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status != 409:  # 409: left by an earlier try; its content is the same
                    self._delete_companions(api, name, namespace, reversed(made))
                    raise self._refused(f"create the {kind} of", name, namespace, exc) from exc
            except Exception as exc:
                self._delete_companions(api, name, namespace, reversed([*made, kind]))
                raise self._unreachable(exc) from exc
            made.append(kind)
        try:
            api.create_namespaced_pod(namespace, pod, _request_timeout=REQUEST_TIMEOUT)  # type: ignore[arg-type]  # the client serialises a dict as it is
        except Exception as exc:
            if isinstance(exc, ApiException) and exc.status == 409:
                log.info("pod %s/%s exists already: tracking it", namespace, name)
            else:
                if not isinstance(exc, ApiException):
                    # No answer: the pod may exist all the same; its sidecars would keep it.
                    self._delete(api.delete_namespaced_pod, name, namespace)
                self._delete_companions(api, name, namespace)
                if isinstance(exc, ApiException):
                    raise self._refused("create the pod", name, namespace, exc) from exc
                raise self._unreachable(exc) from exc
        started = now()
        worker = _Pod(record_id, project, pipeline, namespace, name, started, started)
        self._workers[record_id] = worker
        log.info("started worker pod %s/%s in cloud %s", namespace, name, self.cloud)
        return self._info(worker)

    def stop(self, record_id: str) -> bool:
        worker = self._workers.get(record_id)
        if worker is None:
            return False
        worker.stop_requested = True
        try:
            api, _ = self._connect()
        except InvalidRequest:
            log.exception("cannot stop the pod of %s", record_id)
            return False
        deleted = self._delete(api.delete_namespaced_pod, worker.name, worker.namespace)
        self._delete_companions(api, worker.name, worker.namespace)
        return deleted

    def poll(self) -> builtins.list[ExitReport]:
        if not self._workers or self._clock() - self._last_poll < self.poll_interval:
            return []
        self._last_poll = self._clock()
        try:
            api, _ = self._connect()
        except InvalidRequest:
            log.exception("cannot watch the pods of cloud %s", self.cloud)
            return []
        by_namespace: dict[str, list[_Pod]] = defaultdict(list)
        for worker in list(self._workers.values()):
            by_namespace[worker.namespace].append(worker)
        reports = []
        seen = now()
        for namespace, workers in by_namespace.items():
            try:
                pods = self._pods(api, namespace)
            except Exception:  # one namespace we cannot read must not hide the others
                log.exception("cannot list the worker pods in %s (cloud %s)", namespace, self.cloud)
                continue
            for worker in workers:
                pod = pods.get(worker.name)
                end = kube.PodEnd(None, "pod disappeared") if pod is None else kube.pod_end(pod)
                if end is None:
                    worker.phase = kube.pod_status(pod or {})
                    worker.seen_at = seen
                    continue
                if self._workers.pop(worker.record_id, None) is None:
                    continue  # discarded meanwhile
                reason = end.reason + (STOP_REASON if worker.stop_requested else "")
                reports.append(ExitReport(worker.record_id, end.exit_code, reason))
                if pod is not None:
                    self._delete(api.delete_namespaced_pod, worker.name, namespace)
                self._delete_companions(api, worker.name, namespace)
            self._sweep(api, namespace, pods)
        return reports

    def list(self) -> builtins.list[WorkerInfo]:
        return [self._info(worker) for worker in self._workers.values()]

    def handle(self, record_id: str) -> Handle:
        worker = self._workers[record_id]
        return {"namespace": worker.namespace, "pod": worker.name}

    def adopt(self, saved: builtins.list[SavedWorker]) -> None:
        for item in saved:
            if item.record_id in self._workers:
                continue
            try:
                domain.check_record_id(item.record_id)
                namespace = str(item.handle["namespace"])
            except (KeyError, domain.InvalidRecordId):
                log.warning("cannot adopt the worker of %r: %r", item.record_id, item.handle)
                continue
            name = str(item.handle.get("pod") or domain.worker_name(item.record_id))
            self._workers[item.record_id] = _Pod(
                item.record_id,
                item.project,
                item.pipeline,
                namespace,
                name,
                item.started_at,
                item.started_at,
                phase="Unknown",
            )
            log.info("adopted worker pod %s/%s", namespace, name)

    def close(self) -> None:
        return None  # nothing is made ahead

    def discard(self, record_id: str) -> None:
        domain.check_record_id(record_id)
        if record_id in self._workers:
            self.stop(record_id)  # the next poll reports it and removes what is left

    # --- helpers -------------------------------------------------------------------------------

    def _connect(self) -> tuple[CoreV1Api, Mapping[str, Any]]:
        """The API of the cloud as stored now (a new client when its settings changed)."""
        try:
            section = self._source().get("kubernetes") or {}
        except InvalidRequest:
            raise
        except Exception as exc:  # e.g. its secrets cannot be decrypted
            raise InvalidRequest(f"cloud {self.cloud}: {exc}") from exc
        key = json.dumps(section, sort_keys=True, default=str)
        if self._api is None or key != self._client_key:
            try:
                config = kube.configuration(
                    section, service_account_dir=self._sa_dir, environ=self._environ
                )
            except kube.KubeConfigError as exc:
                raise InvalidRequest(f"cloud {self.cloud}: {exc}") from exc
            if self._api is not None:
                self._api.api_client.close()
            self._api = CoreV1Api(ApiClient(config))
            self._client_key = key
        return self._api, section

    def _with_namespace(self, section: Mapping[str, Any]) -> Mapping[str, Any]:
        """In-cluster clouds without a namespace use the service's own (spec: "same namespace
        with server")."""
        if section.get("namespace") or not section.get("inCluster"):
            return section
        return {**section, "namespace": kube.in_cluster_namespace(self._sa_dir) or ""}

    def _sweep(self, api: CoreV1Api, namespace: str, pods: Mapping[str, Mapping[str, Any]]) -> None:
        """Delete ended worker pods of this cloud that nobody tracks (a start that crashed
        between creating and recording the pod, a worker not adopted): their sidecars would
        keep them forever. Pods still running are left alone: their worker reports by itself."""
        tracked = {worker.name for worker in self._workers.values()}
        for name, pod in pods.items():
            if name in tracked or kube.pod_end(pod) is None:
                continue
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                continue
            log.warning("deleting the ended, untracked worker pod %s/%s", namespace, name)
            self._delete(api.delete_namespaced_pod, name, namespace)
            self._delete_companions(api, name, namespace)

    def _pods(self, api: CoreV1Api, namespace: str) -> dict[str, Mapping[str, Any]]:
        response = api.list_namespaced_pod(
            namespace,
            label_selector=kube.selector(self.cloud),
            _request_timeout=REQUEST_TIMEOUT,
            _preload_content=False,
        )
        body = json.loads(response.data)  # type: ignore[attr-defined]  # unparsed: a urllib3 response
        return {p["metadata"]["name"]: p for p in body.get("items") or []}

    def _delete_companions(
        self, api: CoreV1Api, name: str, namespace: str, kinds: Iterable[str] = COMPANIONS
    ) -> None:
        """Delete what a worker pod comes with, all named as the pod (by default all of it:
        its Secret, ServiceAccount, Role and RoleBinding); what is already gone is fine."""
        for kind in kinds:
            self._delete(companion_call(api, kind, "delete"), name, namespace)

    def _delete(self, call: Callable[..., Any], name: str, namespace: str) -> bool:
        """Delete one object; True if it was there. Never raises (logged instead)."""
        try:
            call(name, namespace, _request_timeout=REQUEST_TIMEOUT, _preload_content=False)
            return True
        except ApiException as exc:
            if exc.status != 404:
                log.warning("cannot delete %s/%s: %s", namespace, name, self._text(exc))
        except Exception as exc:  # noqa: BLE001 - the next poll or the stop's caller retries
            log.warning("cannot delete %s/%s: %s", namespace, name, exc)
        return False

    def _refused(self, what: str, name: str, namespace: str, exc: ApiException) -> Exception:
        text = f"cloud {self.cloud}: cannot {what} {namespace}/{name}: {self._text(exc)}"
        if kube.exceeds_quota(exc.status or 0, exc.body):
            return CapacityExceeded(text)
        return InvalidRequest(text)

    def _unreachable(self, exc: Exception) -> InvalidRequest | CapacityExceeded:
        if isinstance(exc, InvalidRequest | CapacityExceeded):
            return exc
        return InvalidRequest(f"cloud {self.cloud}: the API server did not answer: {exc}")

    @staticmethod
    def _text(exc: ApiException) -> str:
        if not exc.status:  # a transport error (TLS, ...) wrapped by the client
            return str(exc.reason or exc).replace("\n", ": ")
        reason, message = kube.api_message(exc.body)
        return f"HTTP {exc.status} {reason or exc.reason}: {message}".rstrip(": ")

    def _info(self, worker: _Pod) -> WorkerInfo:
        info = domain.worker_info(
            worker.record_id,
            worker.project,
            worker.pipeline,
            self.cloud,
            worker.started_at,
            worker.seen_at,
        )
        info["status"] = worker.phase
        info["namespace"] = worker.namespace
        return info


def driver(
    context: DriverContext, cloud: str, settings: kube.PodSettings, interval: float
) -> KubernetesDriver:
    """The driver of one stored cloud: it reads the cloud, secrets decrypted, whenever it
    talks to the cluster."""

    def source() -> Cloud:
        stored = context.find(cloud)
        if stored is None:
            raise InvalidRequest(f"cloud {cloud} not found")
        return context.unseal(stored)

    return KubernetesDriver(cloud, source, settings, poll_interval=interval, tokens=context.tokens)
