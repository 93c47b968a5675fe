"""Pure rules of the container and image stages: names, labels, limits, image references,
release decisions. No Docker client here, so they are unit-tested alone. (Outputs are matched
by services/worker/outputs.py, `match_outputs` here being that one function.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.worker.outputs import match_outputs  # noqa: F401 - its name here before
from shared.dockerengine import (  # noqa: F401 - the engine's conventions, named here before
    CLOUD_LABEL,
    HOST_LABEL,
    KEEP_ALIVE,
    LABEL_PREFIX,
    RECORD_LABEL,
    WORKSPACE,
    resource_name,
)

CODE_DIR = WORKSPACE + "/code"
INTEGRATION_SUCCESS = "IntegrationTestSuccess"
ALWAYS = "Always"

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)$")
_MEMORY_UNITS = {
    "": 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_TAG = re.compile(r":[\w][\w.-]{0,127}$")


class EngineError(Exception):
    """The engine refused or failed a request; the message says what, for the stage's error."""


class QuotaError(ValueError):
    """A quota value Docker cannot take (the project's settings are wrong)."""


def labels(project: str, pipeline: str, record_id: str, cloud: str, host: str) -> dict[str, str]:
    """Labels on every container, volume and network of a record: what the cloud service
    sweeps by (record, cloud, host) and what an operator reads (project, pipeline)."""
    return {
        LABEL_PREFIX + "project": project,
        LABEL_PREFIX + "pipeline": pipeline,
        RECORD_LABEL: record_id,
        CLOUD_LABEL: cloud,
        HOST_LABEL: host,
    }


def cpu_quantity(raw: str) -> float:
    """Kubernetes-style CPU: "1", "0.5", "500m"."""
    text = str(raw).strip()
    try:
        value = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError as exc:
        raise QuotaError(f"cpu quantity {raw!r} is not a number of cores") from exc
    if value <= 0:
        raise QuotaError(f"cpu quantity {raw!r} must be positive")
    return value


def memory_quantity(raw: str) -> int:
    """Kubernetes-style memory in bytes: "512Mi", "1G", "2Gi", "1000000"."""
    found = _QUANTITY.match(str(raw).strip())
    if not found or found.group(2) not in _MEMORY_UNITS:
        raise QuotaError(f"memory quantity {raw!r} is not like 512Mi, 1G or 1073741824")
    value = int(float(found.group(1)) * _MEMORY_UNITS[found.group(2)])
    if value <= 0:
        raise QuotaError(f"memory quantity {raw!r} must be positive")
    return value


def container_limits(quota: Mapping[str, Any] | None) -> dict[str, int]:
    """A project's `worker.quota` as docker SDK `containers.create` arguments.

    limits.cpu -> nano_cpus (a hard cap), requests.cpu -> cpu_shares (1024 per core, a
    weight under contention), limits.memory -> mem_limit, requests.memory -> mem_reservation.
    """
    quota = quota or {}
    out: dict[str, int] = {}
    if quota.get("limits.cpu"):
        out["nano_cpus"] = int(cpu_quantity(quota["limits.cpu"]) * 1e9)
    if quota.get("requests.cpu"):
        out["cpu_shares"] = max(2, int(cpu_quantity(quota["requests.cpu"]) * 1024))
    if quota.get("limits.memory"):
        out["mem_limit"] = memory_quantity(quota["limits.memory"])
    if quota.get("requests.memory"):
        out["mem_reservation"] = memory_quantity(quota["requests.memory"])
    if "mem_limit" in out and out.get("mem_reservation", 0) > out["mem_limit"]:
        raise QuotaError("requests.memory is more than limits.memory")
    return out


def has_tag(image: str) -> bool:
    """Whether a reference ends in a tag (a port in the registry part is not one)."""
    return bool(_TAG.search(image.rsplit("/", 1)[-1])) or "@" in image


def image_ref(image_name: str, record_name: str, registry: Mapping[str, Any] | None) -> str:
    """The brief's rule: no tag -> the record name as tag; a project registry prefixes
    `{server}/{repository}/`."""
    name = image_name.strip()
    if not has_tag(name):
        name = f"{name}:{tag_of(record_name)}"
    if registry and registry.get("server"):
        prefix = str(registry["server"]).strip().rstrip("/")
        prefix = re.sub(r"^https?://", "", prefix)
        repository = str(registry.get("repository") or "").strip("/")
        name = f"{prefix}/{repository}/{name}" if repository else f"{prefix}/{name}"
    return name


def tag_of(record_name: str) -> str:
    """A record name as a valid image tag ([A-Za-z0-9_.-], at most 128, not starting with
    . or -)."""
    tag = re.sub(r"[^A-Za-z0-9_.-]", "-", record_name or "latest")
    tag = tag.lstrip(".-") or "latest"
    return tag[:128]


def split_ref(ref: str) -> tuple[str, str]:
    """repository and tag of a tagged reference."""
    repository, _, tag = ref.rpartition(":")
    return repository, tag


@dataclass(frozen=True)
class BuildTask:
    name: str  # the task name shown in stageStatus.imageBuild.tasks
    image_name: str  # as the user wrote it (what release policies and tests name)
    context_dir: str
    dockerfile_path: str
    dockerfile: str


def build_tasks(cfg: Mapping[str, Any]) -> list[BuildTask]:
    """The imageBuild stage's buildInfos as tasks; problems raise ValueError with the reason."""
    tasks = []
    for index, info in enumerate(cfg.get("buildInfos") or []):
        if not isinstance(info, Mapping):
            continue
        image = str(info.get("imageName") or "").strip()
        if not image:
            raise ValueError(f"buildInfos[{index}] has no imageName")
        context = str(info.get("contextDir") or "").strip() or "."
        path = str(info.get("dockerfilePath") or "").strip()
        for value, what in ((context, "contextDir"), (path, "dockerfilePath")):
            if value.startswith("/") or ".." in value.split("/"):
                raise ValueError(f"buildInfos[{index}].{what} must stay inside the code: {value}")
        name = str(info.get("taskName") or "").strip() or image
        tasks.append(BuildTask(name, image, context, path, str(info.get("dockerfile") or "")))
    if not tasks:
        raise ValueError("the imageBuild stage has no buildInfos")
    return tasks


def bare_name(image_name: str) -> str:
    """An image name without its tag: what integrationTest and release policies name."""
    name = image_name.strip()
    return name.rsplit(":", 1)[0] if has_tag(name) and "@" not in name else name


def release_decision(
    policy: str, integration_status: str | None, integration_planned: bool
) -> str | None:
    """None to push, else why not. `IntegrationTestSuccess` pushes only when that stage ran
    in this record and succeeded; `Always` whenever the image was built."""
    if policy == ALWAYS:
        return None
    if policy == INTEGRATION_SUCCESS:
        if not integration_planned:
            return "integrationTest did not run in this record"
        if integration_status != "Success":
            return f"integrationTest {integration_status or 'did not finish'}"
        return None
    return f"unknown release policy {policy!r}"


def env_list(pairs: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """`[{"name", "value"}]` as a mapping (later names win)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        if isinstance(pair, Mapping) and pair.get("name"):
            out[str(pair["name"])] = str(pair.get("value") or "")
    return out
