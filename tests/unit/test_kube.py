"""Pure rules of the Kubernetes driver (services/cloud/backends/kubernetes/pods.py): client
configuration per auth mode, the worker pod, what a pod's status means."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import kubernetes_validate
import pytest
from kubernetes.client import ApiClient

from services.cloud.backends.kubernetes import pods as kube

RECORD = "5b30a4e5488571000107261f"
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def headers(section, **kw) -> dict[str, str]:
    """The auth headers a request made with this configuration carries."""
    config = kube.configuration(section, **kw)
    sent: dict[str, str] = {}
    ApiClient(config).update_params_for_auth(sent, [], ["BearerToken"], "", "GET", None)
    return sent


# --- auth modes -> Configuration -------------------------------------------------------------


def test_bearer_token():
    config = kube.configuration({"host": "1.2.3.4", "bearerToken": "t0k"})
    assert config.host == "https://1.2.3.4"  # the spec's host has no scheme
    assert headers({"host": "1.2.3.4", "bearerToken": "t0k"}) == {"authorization": "Bearer t0k"}
    assert config.verify_ssl is True and config.ssl_ca_cert is None
    assert config.proxy is None


def test_username_and_password_are_basic_auth():
    section = {"host": "https://k8s.example.com:6443/", "username": "root", "password": "123456"}
    config = kube.configuration(section)
    assert config.host == "https://k8s.example.com:6443"
    assert (config.username, config.password) == ("root", "123456")
    expected = "Basic " + base64.b64encode(b"root:123456").decode()
    assert headers(section) == {"authorization": expected}


def test_bearer_token_wins_over_basic():
    section = {"host": "h", "bearerToken": "t", "username": "u", "password": "p"}
    assert headers(section) == {"authorization": "Bearer t"}


def test_in_cluster_service_account(tmp_path: Path):
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "ca.crt").write_text(PEM)
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    section = {"inCluster": True, "host": "ignored.example.com"}
    config = kube.configuration(section, service_account_dir=tmp_path, environ=env)
    assert config.host == "https://10.96.0.1:443"
    assert config.ssl_ca_cert == str(tmp_path / "ca.crt")
    assert headers(section, service_account_dir=tmp_path, environ=env) == {
        "authorization": "Bearer sa-token"
    }
    (tmp_path / "token").write_text("rotated")
    assert headers(section, service_account_dir=tmp_path, environ=env) == {
        "authorization": "Bearer rotated"
    }
    ipv6 = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    assert kube.configuration(section, service_account_dir=tmp_path, environ=ipv6).host == (
        "https://[fd00::1]:443"
    )


def test_in_cluster_outside_a_pod_says_why(tmp_path: Path):
    with pytest.raises(kube.KubeConfigError, match="KUBERNETES_SERVICE_HOST"):
        kube.configuration({"inCluster": True}, service_account_dir=tmp_path, environ={})
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(kube.KubeConfigError, match="cannot read the service account token"):
        kube.configuration({"inCluster": True}, service_account_dir=tmp_path, environ=env)


def test_tls_ca_file_ca_data_and_insecure():
    config = kube.configuration(
        {"host": "h", "bearerToken": "t", "tlsClientConfig": {"caFile": "/etc/k8s/ca.crt"}}
    )
    assert (config.ssl_ca_cert, config.verify_ssl) == ("/etc/k8s/ca.crt", True)
    for given in (PEM, base64.b64encode(PEM.encode()).decode()):
        config = kube.configuration(
            {"host": "h", "bearerToken": "t", "tlsClientConfig": {"caData": given}}
        )
        assert config.ca_cert_data == PEM
    config = kube.configuration(
        {"host": "h", "bearerToken": "t", "tlsClientConfig": {"insecure": True}}
    )
    assert config.verify_ssl is False and config.assert_hostname is False
    with pytest.raises(kube.KubeConfigError, match="caData"):
        kube.configuration({"host": "h", "tlsClientConfig": {"caData": "not a cert"}})


def test_no_host_is_refused():
    with pytest.raises(kube.KubeConfigError, match="no Kubernetes host"):
        kube.configuration({"bearerToken": "t"})


def test_environment_proxies_do_not_apply(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    assert kube.configuration({"host": "h", "bearerToken": "t"}).proxy is None


# --- the pod -----------------------------------------------------------------------------------


def settings(**kw) -> kube.PodSettings:
    return kube.PodSettings(amqp_uri="amqp://u:p@mq:5672/", **kw)


@pytest.mark.parametrize("dind", [False, True])
def test_pod_validates_against_every_supported_schema(dind):
    pod = kube.pod_manifest(
        RECORD,
        "Demo.Project",
        "build",
        "k8s",
        {"quota": {"limits.cpu": "2"}, "builderImage": "maven:3"},
        "ci",
        settings(dind=dind),
    )
    secret = kube.secret_manifest(RECORD, "ci", pod["metadata"]["labels"], "amqp://x", "tok")
    for version in ("1.25", "1.28", "1.33", "1.37"):
        kubernetes_validate.validate(pod, version, strict=True)
        kubernetes_validate.validate(secret, version, strict=True)
    assert pod["metadata"]["labels"]["cyclone.io/project"] == "Demo.Project"
    assert "amqp" not in json.dumps(pod)
    assert "CYCLONE_WORKER_TOKEN" in secret["data"]


@pytest.mark.parametrize("dind", [False, True])
def test_only_the_worker_container_mounts_a_service_account_token(dind):
    pod = kube.pod_manifest(RECORD, "p", "build", "k8s", {}, "ci", settings(dind=dind))
    assert pod["spec"]["automountServiceAccountToken"] is False
    token_volumes = {
        v["name"]
        for v in pod["spec"]["volumes"]
        if any("serviceAccountToken" in src for src in v.get("projected", {}).get("sources", []))
    }
    assert token_volumes, "the worker needs its token to exec into the builder"
    mounts = {
        c["name"]: {m["name"] for m in c.get("volumeMounts", [])} for c in pod["spec"]["containers"]
    }
    assert mounts.pop(kube.WORKER) & token_volumes
    assert kube.BUILDER in mounts
    for name, names in mounts.items():  # builder (and dind): build code runs there
        assert not names & token_volumes, f"{name} mounts a service account token"


@pytest.mark.parametrize("namespace", ["ci", "team-a"])
def test_each_pod_has_its_own_account_role_and_binding(namespace):
    pod = kube.pod_manifest(RECORD, "p", "build", "k8s", {}, namespace, settings())
    name = pod["metadata"]["name"]
    access = kube.access_manifests(RECORD, namespace, pod["metadata"]["labels"])
    for doc in access:
        for version in ("1.25", "1.28", "1.33", "1.37"):
            kubernetes_validate.validate(doc, version, strict=True)
        assert doc["metadata"] == {
            "name": name,
            "namespace": namespace,
            "labels": pod["metadata"]["labels"],
        }
    account, role, binding = access
    assert (account["kind"], role["kind"], binding["kind"]) == (
        "ServiceAccount",
        "Role",
        "RoleBinding",
    )
    assert pod["spec"]["serviceAccountName"] == account["metadata"]["name"] == name
    assert account["automountServiceAccountToken"] is False
    # only this pod, and only what PodExecutor does with it
    for rule in role["rules"]:
        assert rule["apiGroups"] == [""] and rule["resourceNames"] == [name]
        assert "*" not in rule["verbs"] + rule["resources"]
    assert {r for rule in role["rules"] for r in rule["resources"]} == {"pods", "pods/exec"}
    assert binding["roleRef"] == {
        "apiGroup": role["apiVersion"].split("/")[0],
        "kind": "Role",
        "name": name,
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]


def test_quota_keys_become_resources_with_defaults():
    assert kube.resources(None, kube.DEFAULT_QUOTA) == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    got = kube.resources({"requests.memory": "1G", "limits.cpu": "", "bogus": "1"}, {})
    assert got == {"requests": {"memory": "1G"}}


def test_label_values_are_made_valid():
    assert kube.label_value("a" * 70) == "a" * 63
    assert kube.label_value("my project/x") == "my-project-x"
    assert kube.label_value("-x-") == "x"
    assert kube.selector("k8s") == (
        "app.kubernetes.io/managed-by=cyclone,app.kubernetes.io/name=cyclone-worker,"
        "cyclone.io/cloud=k8s"
    )


def test_namespace_of_project_then_cloud():
    assert kube.namespace_of({"namespace": "team"}, {"namespace": "ci"}) == "team"
    assert kube.namespace_of({}, {"namespace": "ci"}) == "ci"
    with pytest.raises(kube.KubeConfigError):
        kube.namespace_of({}, {})


# --- pod status -> end of the run ----------------------------------------------------------------


def worker_state(state: dict) -> dict:
    return {"containerStatuses": [{"name": "worker", "state": state}]}


@pytest.mark.parametrize(
    ("status", "end"),
    [
        ({"phase": "Pending"}, None),
        ({}, None),
        ({"phase": "Running", **worker_state({"running": {}})}, None),
        (
            {"phase": "Succeeded", **worker_state({"terminated": {"exitCode": 0}})},
            (0, "exited with code 0"),
        ),
        (
            {
                "phase": "Succeeded",
                **worker_state({"terminated": {"exitCode": 0, "reason": "Completed"}}),
            },
            (0, "exited with code 0"),
        ),
        (
            {
                "phase": "Running",
                **worker_state({"terminated": {"exitCode": 2, "reason": "Error"}}),
            },
            (2, "exited with code 2"),
        ),
        (
            {
                "phase": "Failed",
                **worker_state({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}),
            },
            (137, "exited with code 137 (OOMKilled)"),
        ),
        (
            {"phase": "Failed", "reason": "Evicted", "message": "low on memory"},
            (None, "pod evicted: low on memory"),
        ),
        (
            {
                "phase": "Failed",
                "reason": "Evicted",
                **worker_state({"terminated": {"exitCode": 137}}),
            },
            (None, "pod evicted"),
        ),
        ({"phase": "Failed"}, (None, "pod failed")),
        ({"phase": "Succeeded"}, (None, "pod succeeded")),
        (
            {
                "phase": "Pending",
                "containerStatuses": [
                    {"name": "worker", "state": {"waiting": {"reason": "ContainerCreating"}}}
                ],
            },
            None,
        ),
        (
            {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "name": "worker",
                        "state": {
                            "waiting": {
                                "reason": "CreateContainerConfigError",
                                "message": 'secret "s" not found',
                            }
                        },
                    }
                ],
            },
            (
                None,
                'container worker cannot start: CreateContainerConfigError: secret "s" not found',
            ),
        ),
    ],
)
def test_pod_end(status, end):
    found = kube.pod_end({"status": status})
    assert (None if found is None else (found.exit_code, found.reason)) == end


def test_exceeded_quota_is_told_from_other_refusals():
    def status(message: str) -> str:
        return json.dumps({"kind": "Status", "reason": "Forbidden", "message": message})

    exceeded = (
        'pods "w" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1'
    )
    assert kube.exceeds_quota(403, status(exceeded))
    assert not kube.exceeds_quota(
        403, status('pods "w" is forbidden: failed quota: q: must specify limits.cpu')
    )
    assert not kube.exceeds_quota(403, status('pods is forbidden: User "x" cannot create resource'))
    assert not kube.exceeds_quota(422, status(exceeded))
    assert not kube.exceeds_quota(403, "<html>no</html>")
    assert kube.api_message(b"not json") == ("", "not json")
