"""The deploy files (Dockerfile, docker-compose.yml, k8s/) agree with the code.

Static checks: no cluster, no running stack. Every Kubernetes manifest is validated against
the Kubernetes OpenAPI schema offline (kubernetes-validate, strict: unknown fields fail). The
Dockerfile is parsed; a real `docker build` runs only where an engine and the base image are
present (no registry is reachable here).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

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


def _granted(namespace: str, account: str, account_ns: str) -> set[tuple[str, str]]:
    """(resource, verb) pairs a ServiceAccount has in a namespace through RoleBindings."""
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
            if "" in rule.get("apiGroups", []):
                granted |= {(r, v) for r in rule["resources"] for v in rule["verbs"]}
    return granted


def test_k8s_rbac_lets_the_cloud_manage_worker_pods_and_workers_exec():
    cloud = by_kind("Deployment")[services.CLOUD]["spec"]["template"]["spec"]
    config = by_kind("ConfigMap")["cyclone-config"]["data"]
    worker_ns = "cyclone-worker"
    rights = _granted(worker_ns, cloud["serviceAccountName"], "cyclone")
    for resource in ("pods", "secrets"):
        for verb in ("create", "delete", "get", "list"):
            assert (resource, verb) in rights, f"the cloud service cannot {verb} {resource}"
    worker_sa = config["CYCLONE_KUBE_SERVICE_ACCOUNT"]
    assert worker_sa in by_kind("ServiceAccount")
    assert ("pods/exec", "create") in _granted(worker_ns, worker_sa, worker_ns)
    assert config["CYCLONE_WORKER_IMAGE"].startswith("cyclone-worker")
