"""The Kubernetes driver against the fake API server (tests/cloud/fakekube.py), in-process.

Only the Kubernetes API is faked, at HTTP; the driver and the official client are real.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from services.cloud.backends.base import SavedWorker
from services.cloud.backends.kubernetes import pods as kube
from services.cloud.backends.kubernetes.driver import KubernetesDriver
from shared.contracts.errors import CapacityExceeded, InvalidRequest
from shared.timefmt import now
from tests.cloud.fakekube import ApiError, FakeKube, pod_status
from tests.cloud.helpers import new_record_id

TOKEN = "fake-bearer-token"
NS = "cyclone-worker"
AMQP = "amqp://user:broker-password@rabbitmq.cyclone.svc:5672/"


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube(token=TOKEN) as server:
        yield server


def cloud_doc(fake: FakeKube, **section: Any) -> dict[str, Any]:
    k8s = {"host": fake.url, "namespace": NS, "bearerToken": TOKEN, **section}
    return {"name": "k8s", "type": "Kubernetes", "kubernetes": k8s}


def make_driver(fake: FakeKube, doc: dict[str, Any] | None = None, **settings: Any):
    stored = doc or cloud_doc(fake)
    pod_settings = kube.PodSettings(amqp_uri=AMQP, **settings)
    return KubernetesDriver("k8s", lambda: stored, pod_settings, poll_interval=0)


PLACEMENT = {
    "cloudName": "k8s",
    "namespace": "team-a",
    "builderImage": "golang:1.23-alpine",
    "quota": {"requests.cpu": "250m", "limits.memory": "2Gi"},
}


def test_start_creates_the_pod_and_its_secret(fake):
    driver = make_driver(fake)
    record_id = new_record_id()
    info = driver.start(record_id, "proj", "pipe", PLACEMENT)
    name = f"cyclone-worker-{record_id}"
    assert (info["name"], info["cloud"], info["status"]) == (name, "k8s", "Pending")
    assert info["namespace"] == "team-a"  # the gateway's ?namespace= filters on it
    assert (info["projectName"], info["pipelineName"], info["recordID"]) == (
        "proj",
        "pipe",
        record_id,
    )
    (pod,) = fake.created
    for version in ("1.25", "1.30", "1.37"):  # the exact body the driver sent
        kubernetes_validate.validate(pod, version, strict=True)
    assert pod["metadata"]["namespace"] == "team-a"  # the project's namespace wins
    assert pod["spec"]["restartPolicy"] == "Never"
    labels = pod["metadata"]["labels"]
    assert labels["cyclone.io/record"] == record_id
    assert (labels["cyclone.io/project"], labels["cyclone.io/pipeline"]) == ("proj", "pipe")
    assert labels["cyclone.io/cloud"] == "k8s"
    notes = pod["metadata"]["annotations"]
    assert (notes["cyclone.io/project"], notes["cyclone.io/record"]) == ("proj", record_id)
    worker, builder = pod["spec"]["containers"]
    assert worker["command"] + worker["args"] == [
        "python",
        "-m",
        "services.worker",
        "--record-id",
        record_id,
    ]
    assert worker["image"] == "cyclone/worker:latest"
    assert worker["envFrom"] == [{"secretRef": {"name": name}}]
    assert AMQP not in str(pod)  # the broker URL only travels in the Secret
    assert builder["image"] == "golang:1.23-alpine"
    assert builder["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    assert [m["mountPath"] for m in builder["volumeMounts"]] == ["/workspace"]
    # only the worker gets the service account's token (not build code in `builder`)
    assert [m["mountPath"] for m in worker["volumeMounts"]] == [
        "/workspace",
        str(kube.SERVICE_ACCOUNT_DIR),
    ]
    secret = fake.secret("team-a", name)
    assert base64.b64decode(secret["data"]["CYCLONE_AMQP_URI"]).decode() == AMQP
    assert secret["metadata"]["labels"]["cyclone.io/record"] == record_id
    assert all(auth == f"Bearer {TOKEN}" for auth in fake.auth_seen)
    # Idempotent: a second start of the same record creates nothing.
    assert driver.start(record_id, "proj", "pipe", PLACEMENT)["name"] == name
    assert len(fake.created) == 1
    assert [w["recordID"] for w in driver.list()] == [record_id]


def test_dind_sidecar_when_enabled(fake):
    driver = make_driver(fake, dind=True, worker_image="registry.local/cyclone-worker:1.0")
    driver.start(new_record_id(), "p", "q", {"cloudName": "k8s"})
    (pod,) = fake.created
    kubernetes_validate.validate(pod, "1.30", strict=True)
    assert pod["metadata"]["namespace"] == NS  # the cloud's namespace
    worker, builder, dind = pod["spec"]["containers"]
    assert worker["image"] == "registry.local/cyclone-worker:1.0"
    assert builder["image"] == "busybox:stable"  # the placement named no builder image
    assert dind["image"] == "docker:dind" and dind["securityContext"] == {"privileged": True}
    docker_host = {"name": "DOCKER_HOST", "value": "tcp://localhost:2375"}
    assert docker_host in worker["env"] and docker_host in builder["env"]


def test_succeeded_failed_and_evicted_pods_end_their_records(fake):
    driver = make_driver(fake)
    ok, failed, evicted, oom = (new_record_id() for _ in range(4))
    for record_id in (ok, failed, evicted, oom):
        driver.start(record_id, "p", "q", {})
    assert driver.poll() == []  # all Pending
    name = "cyclone-worker-{}".format
    fake.set_status(NS, name(ok), pod_status("Succeeded", worker={"terminated": {"exitCode": 0}}))
    fake.set_status(NS, name(failed), pod_status("Running", worker={"terminated": {"exitCode": 3}}))
    fake.set_status(
        NS,
        name(evicted),
        pod_status("Failed", reason="Evicted", message="The node was low on resource: memory."),
    )
    fake.set_status(
        NS,
        name(oom),
        pod_status("Failed", worker={"terminated": {"exitCode": 137, "reason": "OOMKilled"}}),
    )
    reports = {r.record_id: r for r in driver.poll()}
    assert (reports[ok].exit_code, reports[ok].reason) == (0, "exited with code 0")
    assert (reports[failed].exit_code, reports[failed].reason) == (3, "exited with code 3")
    assert reports[evicted].exit_code is None
    assert reports[evicted].reason == "pod evicted: The node was low on resource: memory."
    assert reports[oom].reason == "exited with code 137 (OOMKilled)"
    assert fake.pods() == [] and driver.list() == []  # ended pods and secrets are deleted
    assert all(fake.secret(NS, name(r)) is None for r in (ok, failed, evicted, oom))
    assert driver.poll() == []  # each reported once


def test_a_container_that_cannot_start_ends_the_run(fake):
    driver = make_driver(fake)
    record_id = new_record_id()
    driver.start(record_id, "p", "q", {})
    status = pod_status("Pending")
    status["containerStatuses"] = [
        {
            "name": "builder",
            "state": {
                "waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling "nope"'}
            },
            "ready": False,
            "restartCount": 0,
            "image": "nope",
        }
    ]
    fake.set_status(NS, f"cyclone-worker-{record_id}", status)
    (report,) = driver.poll()
    why = 'container builder cannot start: ImagePullBackOff: Back-off pulling "nope"'
    assert report.reason == why


def test_stop_deletes_the_pod_and_secret(fake):
    driver = make_driver(fake)
    record_id = new_record_id()
    driver.start(record_id, "p", "q", {})
    fake.set_status(NS, f"cyclone-worker-{record_id}", pod_status("Running"))
    driver.poll()
    assert driver.list()[0]["status"] == "Running"
    assert driver.stop(record_id) is True
    assert fake.pods() == [] and fake.secret(NS, f"cyclone-worker-{record_id}") is None
    (report,) = driver.poll()
    assert (report.exit_code, report.reason) == (None, "pod disappeared (stop requested)")
    assert driver.stop(record_id) is False
    assert driver.stop(new_record_id()) is False


def test_a_full_quota_is_capacity_exceeded_and_leaves_nothing(fake):
    fake.add(
        "resourcequotas",
        NS,
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "workers"},
            "spec": {"hard": {"pods": "1", "limits.cpu": "4"}},
        },
    )
    driver = make_driver(fake)
    first, second = new_record_id(), new_record_id()
    driver.start(first, "p", "q", {})
    with pytest.raises(CapacityExceeded, match="exceeded quota: workers") as caught:
        driver.start(second, "p", "q", {})
    assert "HTTP 403 Forbidden" in str(caught.value)
    assert fake.secret(NS, f"cyclone-worker-{second}") is None
    assert [w["recordID"] for w in driver.list()] == [first]
    fake.set_status(NS, f"cyclone-worker-{first}", pod_status("Succeeded"))
    driver.poll()
    assert driver.start(second, "p", "q", {})["recordID"] == second  # room again


def test_other_refusals_are_invalid_requests(fake):
    fake.add(
        "resourcequotas",
        NS,
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "gpu"},
            "spec": {"hard": {"requests.cpu": "100"}},
        },
    )
    doc = cloud_doc(fake, bearerToken="wrong")
    with pytest.raises(InvalidRequest, match="HTTP 401 Unauthorized"):
        make_driver(fake, doc).start(new_record_id(), "p", "q", {})
    doc = cloud_doc(fake, host="http://127.0.0.1:1")
    with pytest.raises(InvalidRequest, match="the API server did not answer"):
        make_driver(fake, doc).start(new_record_id(), "p", "q", {})
    doc = cloud_doc(fake, namespace="")
    with pytest.raises(InvalidRequest, match="names a namespace"):
        make_driver(fake, doc).start(new_record_id(), "p", "q", {})


def test_adopted_workers_are_watched_again(fake):
    first = make_driver(fake)
    record_id = new_record_id()
    first.start(record_id, "p", "q", {"namespace": "team-b"})
    handle = first.handle(record_id)
    assert handle == {"namespace": "team-b", "pod": f"cyclone-worker-{record_id}"}

    again = make_driver(fake)  # the service restarted
    again.adopt([SavedWorker(record_id, "p", "q", now(), handle, "k8s")])
    assert again.list()[0]["recordID"] == record_id
    assert again.poll() == []
    fake.set_status("team-b", handle["pod"], pod_status("Failed", reason="DeadlineExceeded"))
    (report,) = again.poll()
    assert report.reason == "pod deadlineexceeded"


def test_a_replaced_cloud_is_used_at_once(fake):
    doc = cloud_doc(fake, bearerToken="old-token")
    driver = KubernetesDriver("k8s", lambda: doc, kube.PodSettings(amqp_uri=AMQP), poll_interval=0)
    with pytest.raises(InvalidRequest, match="401"):
        driver.start(new_record_id(), "p", "q", {})
    doc["kubernetes"]["bearerToken"] = TOKEN
    assert driver.start(new_record_id(), "p", "q", {})["status"] == "Pending"


def test_in_cluster_auth_reads_the_service_account(fake, tmp_path: Path):
    (tmp_path / "token").write_text("fake-bearer-token\n")
    (tmp_path / "namespace").write_text("cyclone\n")
    doc = {"name": "k8s", "type": "Kubernetes", "kubernetes": {"inCluster": True}}
    port = fake.url.rsplit(":", 1)[1]
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}
    driver = KubernetesDriver(
        "k8s",
        lambda: doc,
        kube.PodSettings(amqp_uri=AMQP),
        service_account_dir=tmp_path,
        environ=env,
    )
    # The in-cluster host is https; the fake speaks http, so point the client at it.
    driver._connect()[0].api_client.configuration.host = fake.url
    record_id = new_record_id()
    driver.start(record_id, "p", "q", {})
    assert fake.pod("cyclone", f"cyclone-worker-{record_id}") is not None  # the service's own
    (tmp_path / "token").write_text("rotated")  # bound tokens rotate: read before each request
    driver.poll()
    assert fake.auth_seen[-1] == "Bearer rotated"


def test_ended_pods_nobody_tracks_are_swept(fake):
    driver = make_driver(fake)
    tracked = new_record_id()
    driver.start(tracked, "p", "q", {})
    lost, running = new_record_id(), new_record_id()
    other = make_driver(fake)  # e.g. a start that crashed before it recorded its pod
    other.start(lost, "p", "q", {})
    other.start(running, "p", "q", {})
    fake.set_status(NS, f"cyclone-worker-{lost}", pod_status("Succeeded"))
    assert driver.poll() == []
    assert fake.pod(NS, f"cyclone-worker-{lost}") is None
    assert fake.secret(NS, f"cyclone-worker-{lost}") is None
    assert fake.pod(NS, f"cyclone-worker-{running}") is not None  # its worker still reports
    assert fake.pod(NS, f"cyclone-worker-{tracked}") is not None


# --- each worker's own ServiceAccount, Role and RoleBinding --------------------------------------

ACCESS = ("serviceaccounts", "roles", "rolebindings")


@pytest.fixture
def strict() -> Iterator[FakeKube]:
    """A fake API server that, like a real one, refuses pods whose service account is missing."""
    with FakeKube(token=TOKEN, require_service_accounts=True) as server:
        yield server


def access_of(fake: FakeKube, namespace: str, name: str) -> dict[str, Any]:
    return {kind: fake.get(kind, namespace, name) for kind in ACCESS}


def test_each_pod_runs_as_its_own_account_that_reaches_only_its_pod(strict):
    driver = make_driver(strict)
    mine, other = new_record_id(), new_record_id()
    driver.start(mine, "proj", "pipe", PLACEMENT)
    driver.start(other, "proj", "pipe", PLACEMENT)
    name, other_name = f"cyclone-worker-{mine}", f"cyclone-worker-{other}"
    pod = strict.pod("team-a", name)
    assert pod["spec"]["serviceAccountName"] == name
    assert pod["spec"]["automountServiceAccountToken"] is False
    access = access_of(strict, "team-a", name)
    account, role, binding = (access[kind] for kind in ACCESS)
    for obj in (account, role, binding):  # as stored (the fake validated what it received)
        body = {k: v for k, v in obj.items() if k != "status"}
        body["metadata"] = {k: body["metadata"][k] for k in ("name", "namespace", "labels")}
        for version in ("1.25", "1.30", "1.37"):
            kubernetes_validate.validate(body, version, strict=True)
        assert obj["metadata"]["labels"]["cyclone.io/record"] == mine
    assert account["automountServiceAccountToken"] is False
    assert {n for rule in role["rules"] for n in rule["resourceNames"]} == {name}
    assert {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]} == {
        ("pods", "get"),
        ("pods/exec", "create"),
        ("pods/exec", "get"),
    }
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": name,
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": "team-a"}]
    # What RBAC makes of it: its own pod, nothing else.
    allows = strict.allows
    assert allows("team-a", name, "create", "pods/exec", name)
    assert allows("team-a", name, "get", "pods/exec", name)
    assert allows("team-a", name, "get", "pods", name)
    assert not allows("team-a", name, "create", "pods/exec", other_name)
    assert not allows("team-a", name, "get", "pods", other_name)
    assert not allows("team-a", name, "list", "pods")
    assert not allows("team-a", name, "get", "secrets", name)
    assert allows("team-a", other_name, "create", "pods/exec", other_name)
    assert not allows("team-a", other_name, "create", "pods/exec", name)
    # made before the pod that names them
    posts = [p.split("?")[0].rsplit("/", 1)[-1] for m, p in strict.requests if m == "POST"]
    assert posts[:5] == ["secrets", "serviceaccounts", "roles", "rolebindings", "pods"]


def test_stop_end_and_sweep_delete_the_account_with_the_pod(strict):
    driver = make_driver(strict)
    stopped, ended, lost = new_record_id(), new_record_id(), new_record_id()
    for record_id in (stopped, ended):
        driver.start(record_id, "p", "q", {})
    make_driver(strict).start(lost, "p", "q", {})  # started by another, never tracked here
    name = "cyclone-worker-{}".format
    for record_id in (stopped, ended, lost):
        assert all(access_of(strict, NS, name(record_id)).values())

    assert driver.stop(stopped) is True
    assert access_of(strict, NS, name(stopped)) == dict.fromkeys(ACCESS)
    assert strict.secret(NS, name(stopped)) is None

    strict.set_status(NS, name(ended), pod_status("Failed", reason="Evicted"))
    strict.set_status(NS, name(lost), pod_status("Succeeded"))
    reports = {r.record_id for r in driver.poll()}
    assert reports == {stopped, ended}
    for record_id in (stopped, ended, lost):
        assert strict.pod(NS, name(record_id)) is None
        assert strict.secret(NS, name(record_id)) is None
        assert access_of(strict, NS, name(record_id)) == dict.fromkeys(ACCESS)
    for kind in ACCESS:
        assert strict.names(kind) == []


def test_a_refused_pod_leaves_no_account_behind(strict):
    strict.add(
        "resourcequotas",
        NS,
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "workers"},
            "spec": {"hard": {"pods": "0"}},
        },
    )
    record_id = new_record_id()
    with pytest.raises(CapacityExceeded):
        make_driver(strict).start(record_id, "p", "q", {})
    assert strict.secret(NS, f"cyclone-worker-{record_id}") is None
    for kind in ACCESS:
        assert strict.names(kind) == [], kind


def test_a_retried_start_takes_over_what_an_earlier_try_left(strict):
    record_id = new_record_id()
    name = f"cyclone-worker-{record_id}"
    labels = kube.labels(record_id, "k8s", "p", "q")
    kinds = {"ServiceAccount": "serviceaccounts", "Role": "roles", "RoleBinding": "rolebindings"}
    for body in kube.access_manifests(record_id, NS, labels):  # an earlier try, cut short
        strict.add(kinds[body["kind"]], NS, body)
    driver = make_driver(strict)
    assert driver.start(record_id, "p", "q", {})["status"] == "Pending"  # 409s are fine
    assert strict.pod(NS, name)["spec"]["serviceAccountName"] == name
    assert driver.stop(record_id) is True
    assert access_of(strict, NS, name) == dict.fromkeys(ACCESS)


class NoRoles(FakeKube):
    """An API server where the cloud's account may not create Roles (an older ClusterRole)."""

    def _create(self, kind: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        if kind == "roles":
            raise ApiError(
                403,
                "Forbidden",
                'roles.rbac.authorization.k8s.io is forbidden: User "system:serviceaccount:'
                'cyclone:cyclone-cloud" cannot create resource "roles" in API group '
                f'"rbac.authorization.k8s.io" in the namespace "{namespace}"',
                {"group": "rbac.authorization.k8s.io", "kind": "roles"},
            )
        return super()._create(kind, namespace, body)


def test_a_refused_role_undoes_what_was_made_before_it():
    with NoRoles(token=TOKEN, require_service_accounts=True) as fake:
        record_id = new_record_id()
        with pytest.raises(InvalidRequest, match=r"cannot create the Role of .*HTTP 403") as caught:
            make_driver(fake).start(record_id, "p", "q", {})
        assert 'cannot create resource "roles"' in str(caught.value)
        assert fake.pods() == [] and fake.secret(NS, f"cyclone-worker-{record_id}") is None
        assert fake.names("serviceaccounts") == []
        deleted = [p.split("?")[0] for m, p in fake.requests if m == "DELETE"]
        assert [p.rsplit("/", 2)[-2] for p in deleted] == ["serviceaccounts", "secrets"]
