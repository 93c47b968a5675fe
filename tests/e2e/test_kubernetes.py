"""Records on a Kubernetes cloud, through the whole stack and the fake Kubernetes API server.

The stack is real (tools.stack: gateway, scheduler, cloud, logs, scm, RabbitMQ, the database);
only the API server is faked, at HTTP (tests/cloud/fakekube.py). Its "kubelet" runs the worker
container's command as a local process with the pod's env and Secret, so a pod that gets
created really runs its record.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.cloud.fakekube import FakeKube, pod_status
from tests.e2e.conftest import Runs, pipeline_body, project_body
from tests.support import StackProcess
from tests.waiting import holds_for, wait_for

TOKEN = "stack-bearer-token"
START_TIMEOUT = 8  # seconds a worker pod may take to send its first heartbeat
NS = "ci-workers"
QUOTA = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "one-worker"},
    "spec": {"hard": {"pods": "1"}},
}
BLOCKER = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "someone-else", "labels": {"app": "other"}},
    "spec": {"containers": [{"name": "main", "image": "busybox:stable"}]},
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeKube]:
    with FakeKube(token=TOKEN, run_workers=True, require_service_accounts=True) as server:
        yield server


@pytest.fixture(scope="module")
def kstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    data = tmp_path_factory.mktemp("kstack") / "data"
    proc = StackProcess(
        data, CYCLONE_KUBE_POLL_INTERVAL="0.2", CYCLONE_WORKER_START_TIMEOUT=str(START_TIMEOUT)
    ).start()
    yield proc
    proc.retire()


@pytest.fixture
def kapi(kstack: StackProcess) -> Iterator[httpx.Client]:
    with kstack.client() as client:
        yield client


def k8s_project(api: httpx.Client, fake: FakeKube, name: str) -> Runs:
    cloud = {
        "name": f"{name}-k8s",
        "type": "Kubernetes",
        "kubernetes": {"host": fake.url, "namespace": NS, "bearerToken": TOKEN},
    }
    assert api.post("/api/v1/clouds", json=cloud).status_code == 201
    ping = api.get(f"/api/v1/clouds/{name}-k8s/ping").json()
    assert ping == {"status": "ok", "version": "Kubernetes v1.30.4 (linux/amd64)"}, ping
    body = project_body(name)
    body["worker"] = {
        "location": {"cloudName": f"{name}-k8s"},
        "quota": {"requests.cpu": "200m", "limits.memory": "1Gi"},
    }
    assert api.post("/api/v1/projects", json=body).status_code == 201
    return Runs(api, name)


def access_left(fake: FakeKube, name: str) -> list[str]:
    """Which of a worker pod's ServiceAccount, Role and RoleBinding still exist."""
    kinds = ("serviceaccounts", "roles", "rolebindings")
    return [kind for kind in kinds if fake.get(kind, NS, name) is not None]


def workers_of(api: httpx.Client, name: str) -> list[str]:
    workers = api.get(f"/api/v1/clouds/{name}-k8s/workers").json()["items"]
    return [w["recordID"] for w in workers]


def test_a_quota_blocked_record_waits_then_runs(kapi, fake, unique, git_repo):
    runs = k8s_project(kapi, fake, unique)
    runs.pipeline(pipeline_body("p", git_repo.url, package=["echo packaged in a pod"]))
    fake.add("resourcequotas", NS, QUOTA)
    fake.add("pods", NS, BLOCKER)  # takes the one pod the quota allows
    try:
        before = len(fake.requests)  # the module's other tests share the fake API server
        rec = runs.start("p")
        name = f"cyclone-worker-{rec['id']}"
        # dispatch tries again every 2 s meanwhile, and the record stays Pending throughout
        holds_for(lambda: runs.get("p", rec["id"])["status"] == "Pending", 5, "Pending")
        tried = fake.requests[before:]
        refused = [m for m, p in tried if m == "POST" and p.endswith(f"{NS}/pods")]
        assert len(refused) >= 2, "dispatch did not retry"
        assert fake.pod(NS, name) is None
        # Nothing left behind: each try makes the Secret and the worker's account, is refused
        # the pod, deletes them (so a try under way has them for a moment).
        wait_for(lambda: fake.secret(NS, name) is None, 5, "the refused try's Secret to go")
        wait_for(lambda: not access_left(fake, name), 5, "the refused try's account to go")
    finally:
        fake.delete("pods", NS, "someone-else")  # the quota frees
    try:
        finish_quota_blocked(runs, fake, rec, unique)
    finally:  # the module's other tests share the fake API server
        fake.delete("resourcequotas", NS, "one-worker")


def finish_quota_blocked(runs: Runs, fake: FakeKube, rec: dict, unique: str) -> None:
    done = runs.wait("p", rec["id"], timeout=60)
    assert done["status"] == "Success", (done, fake.worker_log(NS, f"cyclone-worker-{rec['id']}"))
    log = runs.log_through("p", rec["id"], "Stage: Package status: finish")
    assert "packaged in a pod" in log
    (pod,) = [p for p in fake.created if p["metadata"]["name"] == f"cyclone-worker-{rec['id']}"]
    assert pod["metadata"]["labels"]["cyclone.io/project"] == unique
    builder = pod["spec"]["containers"][1]
    assert builder["resources"]["requests"]["cpu"] == "200m"
    name = f"cyclone-worker-{rec['id']}"
    wait_for(lambda: fake.pod(NS, name) is None, 10, "the ended pod's deletion")
    # the driver deletes the pod first and its Secret and account after it
    wait_for(lambda: fake.secret(NS, name) is None, 10, "the Secret")
    wait_for(lambda: not access_left(fake, name), 10, "the account, Role and RoleBinding")


def test_a_failed_pod_fails_its_record_with_the_reason(kapi, fake, unique, git_repo):
    runs = k8s_project(kapi, fake, unique)
    runs.pipeline(pipeline_body("p", git_repo.url, package=["sleep 30"]))
    fake.run_workers = False  # the pod stays Pending until the test says otherwise
    try:
        rec = runs.start("p")
        name = f"cyclone-worker-{rec['id']}"
        wait_for(lambda: fake.pod(NS, name) is not None, 15)
        # Running once the cloud service answered the start (the pod made), Pending before
        runs.wait("p", rec["id"], {"Running"}, timeout=10)
        # the cloud service saves its worker after the pod's create call answers
        wait_for(lambda: workers_of(kapi, unique) == [rec["id"]], 10, "the worker listed")
        message = "The node was low on resource: memory."
        fake.set_status(NS, name, pod_status("Failed", reason="Evicted", message=message))
        done = runs.wait("p", rec["id"], timeout=30)
    finally:
        fake.run_workers = True
    assert done["status"] == "Failed"
    assert f"pod evicted: {message}" in done["errorMessage"]
    wait_for(lambda: fake.pod(NS, name) is None, 10, "the pod's deletion")
    wait_for(lambda: workers_of(kapi, unique) == [], 10, "the worker to be unlisted")


def test_abort_deletes_the_pod(kapi, fake, unique, git_repo):
    runs = k8s_project(kapi, fake, unique)
    runs.pipeline(pipeline_body("p", git_repo.url, package=["sleep 60"]))
    rec = runs.start("p")
    name = f"cyclone-worker-{rec['id']}"
    wait_for(lambda: "sleep 60" in runs.log("p", rec["id"]).text, 30)
    resp = kapi.patch(runs.url("p", rec["id"], "/status"), json={"status": "Aborted"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "Aborted"
    wait_for(lambda: fake.pod(NS, name) is None, 15, "the aborted run's pod to go")
    wait_for(lambda: fake.secret(NS, name) is None, 10, "the aborted run's Secret to go")
    wait_for(lambda: not access_left(fake, name), 10, "the aborted run's account to go")


def test_a_pod_that_never_starts_fails_its_record_after_the_start_timeout(
    kapi, fake, unique, git_repo
):
    runs = k8s_project(kapi, fake, unique)
    runs.pipeline(pipeline_body("p", git_repo.url, package=["true"]))
    fake.run_workers = False  # Pending for good (an image that never pulls)
    try:
        began = time.monotonic()  # the record is dispatched (its start timeout set) after this
        rec = runs.start("p")
        name = f"cyclone-worker-{rec['id']}"
        wait_for(lambda: fake.pod(NS, name) is not None, 15)
        done = runs.wait("p", rec["id"], timeout=START_TIMEOUT + 20)
        waited = time.monotonic() - began
    finally:
        fake.run_workers = True
    assert done["status"] == "Failed"
    assert done["errorMessage"] == f"worker lost: it did not start within {START_TIMEOUT}s"
    assert waited > START_TIMEOUT - 0.5  # not sooner (the start timeout counts from dispatch)
    wait_for(lambda: fake.pod(NS, name) is None, 10, what="the pod was not deleted")
