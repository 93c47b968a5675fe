"""The deploy files (Dockerfile, docker-compose.yml, k8s/) agree with the code.

Static checks: no cluster, no running stack. Every Kubernetes manifest is validated against
the Kubernetes OpenAPI schema offline (kubernetes-validate, strict: unknown fields fail). The
Dockerfile is parsed; a real `docker build` runs only where an engine and the base image are
present (no registry is reachable here).
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from services.cloud.backends.kubernetes import pods as kube
from shared import config
from shared.contracts import services

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
KUSTOMIZATION = K8S / "kustomization.yaml"
CYCLONE = (*services.RESIDENT, services.API)
API_PORT = 7099


# --- helpers -------------------------------------------------------------------------------


def as_argv(command: Any) -> list[str]:
    """A compose/k8s/Dockerfile command (exec list or shell string) as an argv list."""
    if isinstance(command, str):
        return shlex.split(command)
    assert isinstance(command, list), f"command must be a string or a list, got {command!r}"
    return [str(part) for part in command]


def runs_module(argv: list[str]) -> str | None:
    """The module of `python -m <module> ...`, else None."""
    if len(argv) >= 3 and Path(argv[0]).name.startswith("python") and argv[1] == "-m":
        return argv[2]
    return None


def assert_runnable_module(module: str) -> None:
    """`python -m module` would find the module (a package needs its __main__.py)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"no module {module}"
    if spec.submodule_search_locations:
        mains = [Path(loc) / "__main__.py" for loc in spec.submodule_search_locations]
        assert any(m.is_file() for m in mains), f"package {module} has no __main__.py"
    else:
        assert spec.origin and Path(spec.origin).is_file(), f"module {module} has no file"


def k8s_manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p != KUSTOMIZATION)


@functools.cache
def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in k8s_manifest_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in k8s_documents() if d.get("kind") == kind}


def pod_containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return workload["spec"]["template"]["spec"]["containers"]


# --- docker-compose.yml ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    path = ROOT / "docker-compose.yml"
    assert path.is_file(), "docker-compose.yml is missing"
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data["services"]


@pytest.mark.parametrize(("name", "image"), [("mongo", "mongo:"), ("rabbitmq", "rabbitmq:")])
def test_compose_backing_services_use_real_images(compose, name, image):
    assert name in compose, f"no {name} container"
    assert str(compose[name].get("image", "")).startswith(image)
    assert "healthcheck" in compose[name], f"{name} has no healthcheck"


@pytest.mark.parametrize("name", CYCLONE)
def test_compose_runs_each_service_module(compose, name):
    module = f"services.{name}"
    matching = [
        cname
        for cname, c in compose.items()
        if "command" in c and runs_module(as_argv(c["command"])) == module
    ]
    assert matching, f"no container runs python -m {module}"
    assert_runnable_module(module)
    for cname in matching:
        container = compose[cname]
        assert container.get("build") == ".", f"{cname} is not built from the root Dockerfile"
        assert "healthcheck" in container, f"{cname} has no healthcheck"
        depends = container.get("depends_on", {})
        for backing in ("mongo", "rabbitmq"):
            assert depends.get(backing, {}).get("condition") == "service_healthy", (
                f"{cname} does not wait for a healthy {backing}"
            )
        env = container.get("environment", {})
        assert "rabbitmq:5672" in env.get("CYCLONE_AMQP_URI", ""), cname
        assert "mongo:27017" in env.get("CYCLONE_MONGO_URL", ""), cname


@pytest.mark.parametrize("name", services.RESIDENT)
def test_compose_healthcheck_pings_the_service(compose, name):
    test = as_argv(compose[name]["healthcheck"]["test"])
    assert test[0] in ("CMD", "CMD-SHELL")
    argv = as_argv(test[1]) if test[0] == "CMD-SHELL" else test[1:]
    assert runs_module(argv) == "tools.ping" and argv[3] == name, argv


def test_compose_api_publishes_its_port_and_checks_healthz(compose):
    api = compose["api"]
    assert any(str(p).endswith(f":{API_PORT}") for p in api.get("ports", [])), api.get("ports")
    assert "/healthz" in json.dumps(api["healthcheck"]["test"])


# --- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_default_command_runs_an_existing_module():
    path = ROOT / "Dockerfile"
    assert path.is_file(), "Dockerfile is missing"
    text = re.sub(r"\\\n", " ", path.read_text())  # join continuation lines
    commands = [
        line.split(None, 1)[1]
        for line in text.splitlines()
        if line.split(None, 1)[:1] in (["CMD"], ["ENTRYPOINT"])
    ]
    assert commands, "Dockerfile has neither CMD nor ENTRYPOINT"
    modules = []
    for raw in commands:
        raw = raw.strip()
        argv = json.loads(raw) if raw.startswith("[") else shlex.split(raw)
        module = runs_module(argv)
        if module:
            modules.append(module)
    assert modules, f"no CMD/ENTRYPOINT runs `python -m <module>`: {commands}"
    for module in modules:
        assert_runnable_module(module)
    assert re.search(r"^USER\s+(?!root\b|0\b)\S+", text, re.MULTILINE), "image runs as root"


# --- k8s/ ------------------------------------------------------------------------------------


def test_k8s_documents_are_named_objects():
    docs = k8s_documents()
    assert docs, "no manifests in k8s/"
    for filename, doc in docs:
        assert isinstance(doc, dict), f"{filename}: a document is not a mapping"
        for key in ("apiVersion", "kind"):
            assert doc.get(key), f"{filename}: a document has no {key}"
        assert (doc.get("metadata") or {}).get("name"), f"{filename}: a {doc['kind']} has no name"


def test_k8s_kustomization_lists_exactly_the_manifests():
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    listed = kustomization.get("resources", [])
    assert len(listed) == len(set(listed)), f"duplicates in resources: {listed}"
    assert sorted(listed) == [p.name for p in k8s_manifest_files()]


@pytest.mark.parametrize("name", CYCLONE)
def test_k8s_deployment_runs_each_service_with_probes(name):
    module = f"services.{name}"
    deployments = [
        d
        for d in by_kind("Deployment").values()
        if any(
            runs_module(as_argv(c.get("command", [])) + as_argv(c.get("args", []))) == module
            for c in pod_containers(d)
        )
    ]
    assert deployments, f"no Deployment runs python -m {module}"
    assert_runnable_module(module)
    configmaps, secrets = by_kind("ConfigMap"), by_kind("Secret")
    for deployment in deployments:
        for container in pod_containers(deployment):
            cname = f"{deployment['metadata']['name']}/{container['name']}"
            assert container.get("readinessProbe"), f"{cname} has no readinessProbe"
            assert container.get("livenessProbe"), f"{cname} has no livenessProbe"
            assert container.get("resources", {}).get("limits"), f"{cname} has no limits"
            sources = container.get("envFrom", [])
            refs = {
                *(s["configMapRef"]["name"] for s in sources if "configMapRef" in s),
                *(s["secretRef"]["name"] for s in sources if "secretRef" in s),
            }
            assert refs & configmaps.keys(), f"{cname} does not read an existing ConfigMap"
            assert refs & secrets.keys(), f"{cname} does not read an existing Secret"


@pytest.mark.parametrize("name", services.RESIDENT)
def test_k8s_nameko_probes_ping_the_service(name):
    deployment = by_kind("Deployment")[name]
    for container in pod_containers(deployment):
        for probe in ("readinessProbe", "livenessProbe"):
            argv = as_argv(container[probe]["exec"]["command"])
            assert runs_module(argv) == "tools.ping" and argv[3] == name, argv


def test_k8s_api_liveness_does_not_depend_on_peers():
    """/healthz is 503 when any peer is down: readiness only, never liveness."""
    (container,) = pod_containers(by_kind("Deployment")[services.API])
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert "/healthz" not in json.dumps(container["livenessProbe"])


def test_k8s_api_has_a_service():
    api = by_kind("Deployment")[services.API]
    pod_labels = api["spec"]["template"]["metadata"]["labels"]
    matching = [
        s
        for s in by_kind("Service").values()
        if s["spec"].get("selector")
        and s["spec"]["selector"].items() <= pod_labels.items()
        and any(p.get("port") == API_PORT for p in s["spec"].get("ports", []))
    ]
    assert matching, f"no Service selects the api pods on port {API_PORT}"


# --- tools.ping ------------------------------------------------------------------------------


def run_ping(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.ping", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_ping_rejects_an_unknown_service():
    result = run_ping("nosuch")
    assert result.returncode == 2, result
    assert "nosuch" in result.stderr


def test_ping_fails_when_the_broker_is_unreachable():
    result = run_ping(
        services.SCM, "--timeout", "1", env={"CYCLONE_AMQP_URI": "amqp://guest:guest@127.0.0.1:1/"}
    )
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"{services.SCM}: "), result.stderr
    assert "Eventlet is deprecated" not in result.stderr


# --- schema validation, images, RBAC -------------------------------------------------------------

K8S_VERSIONS = (
    "1.25",
    "1.30",
    "1.37",
)  # the oldest and newest the validator knows, and one between


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_manifests_validate_against_the_schema(version):
    for filename, doc in k8s_documents():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{filename}: {doc['kind']} {doc['metadata']['name']}: {where}: {exc}")


def dockerfile_targets() -> dict[str, dict[str, Any]]:
    """Build targets of the root Dockerfile: their base and CMD argv."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    targets: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["FROM"]:
            assert len(words) == 4 and words[2].upper() == "AS", f"unnamed stage: {line}"
            current = targets[words[3]] = {"from": words[1], "cmd": None, "user": None}
        elif words[:1] == ["CMD"] and current is not None:
            current["cmd"] = json.loads(line.split(None, 1)[1])
        elif words[:1] == ["USER"] and current is not None:
            current["user"] = words[1]
    return targets


def target_cmd(targets: dict[str, dict[str, Any]], name: str) -> list[str] | None:
    while name in targets:
        if targets[name]["cmd"]:
            return targets[name]["cmd"]
        name = targets[name]["from"]
    return None


def target_user(targets: dict[str, dict[str, Any]], name: str) -> str | None:
    while name in targets:
        if targets[name]["user"]:
            return targets[name]["user"]
        name = targets[name]["from"]
    return None


@pytest.mark.parametrize("name", [*CYCLONE, "worker"])
def test_dockerfile_has_a_target_per_service_and_the_worker(name):
    targets = dockerfile_targets()
    assert name in targets, f"no `--target {name}` in the Dockerfile"
    argv = target_cmd(targets, name)
    assert argv and runs_module(argv) == f"services.{name}", argv
    assert_runnable_module(f"services.{name}")
    assert target_user(targets, name) not in (None, "root", "0", "0:0"), f"{name} runs as root"


def test_dockerfile_default_target_holds_everything_and_runs_the_api():
    targets = dockerfile_targets()
    last = list(targets)[-1]
    assert runs_module(target_cmd(targets, last) or []) == "services.api"
    chain, name = [], last
    while name in targets:
        chain.append(name)
        name = targets[name]["from"]
    assert "vcs" in chain, "the default image lacks git/svn (Local cloud workers, scm)"


@pytest.mark.parametrize("name", CYCLONE)
def test_k8s_deployments_use_the_image_of_their_target(name):
    """Deployment `name` runs image cyclone-<name>, the Dockerfile target of that service,
    and the kustomization can retag each image."""
    (container,) = pod_containers(by_kind("Deployment")[name])
    image = container["image"].rsplit(":", 1)[0]
    assert image == f"cyclone-{name}", container["image"]
    assert runs_module(as_argv(container["command"])) == runs_module(
        target_cmd(dockerfile_targets(), name) or []
    )
    images = yaml.safe_load(KUSTOMIZATION.read_text()).get("images", [])
    assert image in {i["name"] for i in images}


def test_k8s_hpa_for_the_gateway_and_scheduler():
    targets = {
        h["spec"]["scaleTargetRef"]["name"] for h in by_kind("HorizontalPodAutoscaler").values()
    }
    assert {"api", "scheduler"} <= targets


def _rules_of(role_ref: dict[str, Any]) -> list[dict[str, Any]]:
    kind = by_kind(role_ref["kind"])
    return kind[role_ref["name"]]["rules"]


def _granted(namespace: str, account: str, account_ns: str) -> set[tuple[str, str, str]]:
    """(API group, resource, verb) triples a ServiceAccount has in a namespace through the
    RoleBindings of the manifests (resourceNames ignored: these grants are namespace-wide)."""
    granted = set()
    for binding in by_kind("RoleBinding").values():
        if binding["metadata"]["namespace"] != namespace:
            continue
        subjects = binding.get("subjects", [])
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == account and s["namespace"] == account_ns
            for s in subjects
        ):
            continue
        for rule in _rules_of(binding["roleRef"]):
            granted |= {
                (g, r, v)
                for g in rule.get("apiGroups", [])
                for r in rule["resources"]
                for v in rule["verbs"]
            }
    return granted


WORKER_NS = "cyclone-worker"
RBAC = "rbac.authorization.k8s.io"


def test_k8s_rbac_lets_the_cloud_manage_worker_pods_and_their_accounts():
    cloud = by_kind("Deployment")[services.CLOUD]["spec"]["template"]["spec"]
    rights = _granted(WORKER_NS, cloud["serviceAccountName"], "cyclone")
    for resource in ("pods", "secrets"):
        for verb in ("create", "delete", "get", "list"):
            assert ("", resource, verb) in rights, f"the cloud service cannot {verb} {resource}"
    for group, resource in (("", "serviceaccounts"), (RBAC, "roles"), (RBAC, "rolebindings")):
        for verb in ("create", "delete"):
            assert (group, resource, verb) in rights, f"the cloud service cannot {verb} {resource}"
    # RBAC's escalation rule: the cloud service may only make Roles granting what it holds.
    for rule in kube.worker_rules("cyclone-worker-x"):
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert (group, resource, verb) in rights, (
                        f"the workers' Roles grant {verb} {resource}, which the cloud service "
                        "does not hold: the API server would refuse to create them"
                    )
    config = by_kind("ConfigMap")["cyclone-config"]["data"]
    assert config["CYCLONE_WORKER_IMAGE"].startswith("cyclone-worker")


def test_k8s_no_shared_account_may_exec_into_worker_pods():
    """Each worker pod's own Role (services/cloud/backends/kubernetes/pods.py) names only its
    pod: nothing in the manifests lets an account of the worker namespace exec into its pods."""
    assert "CYCLONE_KUBE_SERVICE_ACCOUNT" not in by_kind("ConfigMap")["cyclone-config"]["data"]
    for binding in by_kind("RoleBinding").values():
        if binding["metadata"]["namespace"] != WORKER_NS:
            continue
        for subject in binding.get("subjects", []):
            if subject.get("namespace") == WORKER_NS:
                granted = _granted(WORKER_NS, subject["name"], WORKER_NS)
                assert ("", "pods/exec", "create") not in granted, subject


# --- credentials --------------------------------------------------------------------------------

PLACEHOLDER = "replace-me"
CREDENTIAL_KEY = re.compile(r"PASS|TOKEN|KEY|SECRET", re.IGNORECASE)


def secret_values() -> list[tuple[str, str, str]]:
    """(Secret name, key, value) of every Secret of the manifests (data decoded)."""
    found = []
    for name, secret in by_kind("Secret").items():
        for key, value in (secret.get("stringData") or {}).items():
            found.append((name, key, str(value)))
        for key, value in (secret.get("data") or {}).items():
            found.append((name, key, base64.b64decode(value).decode()))
    return found


def uri_password(value: str) -> str | None:
    """The password of a URI with credentials; None when `value` is no such URI."""
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc or "@" not in parts.netloc:
        return None
    return parts.password or ""


def test_k8s_manifests_name_no_guest_and_no_empty_password():
    for path in k8s_manifest_files():
        assert "guest" not in path.read_text().lower(), f"{path.name} mentions guest"
    assert secret_values(), "no Secret in the manifests"
    for secret, key, value in secret_values():
        assert value.strip(), f"{secret}.{key} is empty"
        assert uri_password(value) != "", f"{secret}.{key} is a URI with an empty password"
    for _, doc in k8s_documents():  # nor a password in plain env
        for container in _containers(doc):
            for item in container.get("env", []):
                if CREDENTIAL_KEY.search(item["name"]) or item["name"].endswith(("_URL", "_URI")):
                    assert "value" not in item or not uri_password(item["value"]), item


def test_k8s_every_credential_is_a_placeholder_the_stack_refuses():
    """Every password, token, key and URI password of the Secrets is a `replace-me`
    placeholder; the services refuse to start with any of theirs (shared/config.py)."""
    checked = 0
    for secret, key, value in secret_values():
        password = uri_password(value)
        if password is not None:
            assert PLACEHOLDER in password, f"{secret}.{key}: its password is not a placeholder"
            checked += 1
        elif CREDENTIAL_KEY.search(key):
            assert PLACEHOLDER in value, f"{secret}.{key} is not a placeholder"
            checked += 1
        if PLACEHOLDER in value and secret == "cyclone-secrets":
            assert key in config.SECRET_SETTINGS, f"the services would start with {key}'s"
    assert checked >= 7  # token, key, 3 URIs, the MongoDB and RabbitMQ administrators
    cyclone = {k: v for s, k, v in secret_values() if s == "cyclone-secrets"}
    for key in config.SECRET_SETTINGS:
        assert key in cyclone, f"{key} is not in the Secret cyclone-secrets"
        assert config.placeholder_problem({key: cyclone[key]}), key
    configmap = by_kind("ConfigMap")["cyclone-config"]["data"]
    assert not set(configmap) & set(config.SECRET_SETTINGS), "credentials in the ConfigMap"
    assert not any(uri_password(str(v)) is not None for v in configmap.values())


def test_k8s_workers_have_a_broker_user_of_their_own():
    cyclone = {k: v for s, k, v in secret_values() if s == "cyclone-secrets"}
    services_user = urlsplit(cyclone["CYCLONE_AMQP_URI"]).username
    workers_user = urlsplit(cyclone["CYCLONE_KUBE_WORKER_AMQP_URI"]).username
    assert services_user and workers_user and services_user != workers_user
    # the cloud service reads it (envFrom the Secret) and passes it to worker pods
    settings, _ = kube.settings_from_env(cyclone, cyclone["CYCLONE_AMQP_URI"])
    assert settings.amqp_uri == cyclone["CYCLONE_KUBE_WORKER_AMQP_URI"]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = (doc.get("spec") or {}).get("template", {}).get("spec") or {}
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _container(kind: str, name: str) -> dict[str, Any]:
    (container,) = _containers(by_kind(kind)[name])
    return container


@pytest.mark.parametrize(
    ("workload", "variables"),
    [
        ("mongo", ("MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD")),
        ("rabbitmq", ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS")),
    ],
)
def test_k8s_backing_services_take_credentials_from_secret_key_refs(workload, variables):
    env = {item["name"]: item for item in _container("StatefulSet", workload).get("env", [])}
    secrets = by_kind("Secret")
    for variable in variables:
        assert variable in env, f"{workload} has no {variable}"
        ref = env[variable].get("valueFrom", {}).get("secretKeyRef")
        assert ref, f"{workload}'s {variable} is not from a Secret"
        secret = secrets[ref["name"]]
        assert ref["key"] in {**secret.get("stringData", {}), **secret.get("data", {})}


@pytest.mark.parametrize(
    ("workload", "variable"),
    [("mongo", "MONGO_INITDB_ROOT_PASSWORD"), ("rabbitmq", "RABBITMQ_DEFAULT_PASS")],
)
def test_k8s_backing_services_refuse_the_placeholders(tmp_path, workload, variable):
    """Their command checks the Secret's values before the image's entrypoint keeps them."""
    container = _container("StatefulSet", workload)
    argv = [*container["command"], *container.get("args", [])]
    assert argv[:2] == ["sh", "-c"], argv
    (tmp_path / "docker-entrypoint.sh").write_text('#!/bin/sh\necho "entrypoint $*"\n')
    (tmp_path / "docker-entrypoint.sh").chmod(0o755)
    path = f"{tmp_path}:{os.environ['PATH']}"
    secrets = dict(secret_values_of(container))

    def run(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            argv, env={"PATH": path, **env}, capture_output=True, text=True, timeout=30
        )

    refused = run(**secrets)
    assert refused.returncode == 1 and "replace-me" in refused.stderr, refused
    real = {k: v.replace(PLACEHOLDER, "s3cret") for k, v in secrets.items()}
    started = run(**real)
    assert started.returncode == 0 and started.stdout.startswith("entrypoint "), started
    assert secrets[variable]


def secret_values_of(container: dict[str, Any]) -> list[tuple[str, str]]:
    """The values a container's secretKeyRef variables get from the manifests' Secrets."""
    values = {(s, k): v for s, k, v in secret_values()}
    found = []
    for item in container.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            found.append((item["name"], values[(ref["name"], ref["key"])]))
    return found


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run mongosh's script")
def test_k8s_mongo_init_makes_cyclones_user_from_its_url(tmp_path):
    """mongo.yaml's init script (JavaScript for mongosh), run by node with a stand-in `db`."""
    script = by_kind("ConfigMap")["mongo-init"]["data"]["cyclone-user.js"]
    harness = tmp_path / "init.js"
    harness.write_text(
        "const made = [];\n"
        "const db = { getSiblingDB: (d) => ({ createUser: (u) => made.push([d, u]) }) };\n"
        "const print = () => {};\n" + script + "\nconsole.log(JSON.stringify(made));\n"
    )

    def run(url: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["node", str(harness)],
            env={"CYCLONE_MONGO_URL": url},
            capture_output=True,
            text=True,
            timeout=30,
        )

    made = run("mongodb://cyclone:p%40ss@mongo.cyclone.svc:27017/cyclone")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) == [
        [
            "cyclone",
            {"user": "cyclone", "pwd": "p@ss", "roles": [{"role": "readWrite", "db": "cyclone"}]},
        ]
    ]
    for url in (
        {s: v for s, k, v in secret_values() if k == "CYCLONE_MONGO_URL"}["cyclone-secrets"],
        "mongodb://mongo.cyclone.svc:27017/cyclone",  # no user
    ):
        assert run(url).returncode != 0, url


# --- network policies --------------------------------------------------------------------------


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels, matchExpressions) against labels; {} selects all."""
    selector = selector or {}
    if not (selector.get("matchLabels") or {}).items() <= labels.items():
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _namespace_labels(name: str) -> dict[str, str]:
    declared = by_kind("Namespace").get(name, {}).get("metadata", {}).get("labels") or {}
    return {**declared, "kubernetes.io/metadata.name": name}


def _admits(policy: dict[str, Any], source: tuple[str, dict[str, str]], port: int) -> bool:
    """Whether one NetworkPolicy's ingress rules let a pod (namespace, labels) in on `port`."""
    namespace, labels = source
    for rule in policy["spec"].get("ingress") or []:
        ports = rule.get("ports")
        if ports and not any(p.get("port") == port for p in ports):
            continue
        peers = rule.get("from")
        if not peers:
            return True  # from anywhere
        for peer in peers:
            if "ipBlock" in peer:
                return True  # addresses: anyone, as far as this check can tell
            in_namespace = (
                _selects(peer["namespaceSelector"], _namespace_labels(namespace))
                if "namespaceSelector" in peer
                else namespace == policy["metadata"]["namespace"]
            )
            if in_namespace and _selects(peer.get("podSelector"), labels):
                return True
    return False


def _pods() -> dict[str, tuple[str, dict[str, str]]]:
    """Every pod the manifests run, a worker pod and some strangers: name -> (ns, labels)."""
    pods = {}
    for _, doc in k8s_documents():
        template = (doc.get("spec") or {}).get("template")
        if template:
            pods[doc["metadata"]["name"]] = (
                doc["metadata"]["namespace"],
                template["metadata"]["labels"],
            )
    worker = kube.labels("0" * 24, "cluster", "p", "q")
    pods["worker pod"] = (WORKER_NS, worker)
    pods["worker pod of another namespace"] = ("team-x", worker)
    pods["another pod of the worker namespace"] = (WORKER_NS, {"app": "build"})
    pods["a pod elsewhere"] = ("default", {"app.kubernetes.io/name": "cyclone"})
    return pods


def _reaching(target: str, port: int) -> set[str]:
    """The pods (of _pods) that may connect to workload `target`'s pods on `port`."""
    namespace, labels = _pods()[target]
    policies = [
        p
        for p in by_kind("NetworkPolicy").values()
        if p["metadata"]["namespace"] == namespace
        and _selects(p["spec"]["podSelector"], labels)
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
    ]
    assert policies, f"no NetworkPolicy selects the {target} pods"
    return {
        name
        for name, source in _pods().items()
        if any(_admits(policy, source, port) for policy in policies)
    }


def test_k8s_only_cyclones_services_reach_mongodb():
    assert _reaching("mongo", 27017) == set(CYCLONE)


def test_k8s_services_and_workers_reach_rabbitmq_and_only_the_users_job_its_api():
    assert _reaching("rabbitmq", 5672) == {*CYCLONE, "worker pod"}
    assert _reaching("rabbitmq", 15672) == {"rabbitmq-users"}


def test_k8s_kustomization_lists_the_network_policies():
    listed = yaml.safe_load(KUSTOMIZATION.read_text())["resources"]
    assert "networkpolicy.yaml" in listed
    assert {d["metadata"]["name"] for d in by_kind("NetworkPolicy").values()} >= {
        "mongo",
        "rabbitmq",
    }


# --- the broker users job --------------------------------------------------------------------


def _broker_users() -> dict[str, Any]:
    return json.loads(by_kind("ConfigMap")["rabbitmq-users"]["data"]["users.json"])


def test_k8s_worker_broker_user_has_least_permissions():
    users = {u["uri"]: u for u in _broker_users()["users"]}
    assert set(users) == {"CYCLONE_AMQP_URI", "CYCLONE_KUBE_WORKER_AMQP_URI"}
    worker = users["CYCLONE_KUBE_WORKER_AMQP_URI"]
    regexes = [
        *worker["permissions"].values(),
        *(t[k] for t in worker.get("topicPermissions", []) for k in ("write", "read")),
    ]
    assert set(worker["permissions"]) == {"configure", "write", "read"}
    for regex in regexes:
        assert ".*" not in regex and ".+" not in regex, f"the workers' user is granted {regex}"
        assert regex.startswith("^") and regex.endswith("$"), regex
    topics = {t["exchange"] for t in worker["topicPermissions"]}
    assert topics == {"nameko-rpc", "worker.events"}  # every topic exchange it writes to
    assert not worker.get("tags")  # no management access


def test_k8s_broker_users_job_reads_what_it_needs():
    job = by_kind("Job")["rabbitmq-users"]
    (container,) = _containers(job)
    argv = as_argv(container["command"])
    assert runs_module(argv) == "tools.broker_users"
    assert_runnable_module("tools.broker_users")
    env = {item["name"] for item in container["env"]}
    for entry in _broker_users()["users"]:
        assert entry["uri"] in env
    assert {"CYCLONE_RABBITMQ_API", "RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"} <= env
    values = dict(secret_values_of(container))
    assert set(values) == env - {"CYCLONE_RABBITMQ_API"}  # every credential from a Secret
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/cyclone")
    assert volumes[mount["name"]]["configMap"]["name"] == "rabbitmq-users"
    image = container["image"].rsplit(":", 1)[0]
    assert image in {i["name"] for i in yaml.safe_load(KUSTOMIZATION.read_text())["images"]}
