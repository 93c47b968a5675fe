"""The worker's side of the cloud backends: one executor per cloud type from one registry
(services/worker/executors), chosen by the launch, and the one output matcher."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from services.worker import executors, imaging
from services.worker.executors.base import Setting, SetupError
from services.worker.executors.local import HostExecutor
from services.worker.outputs import OutputError, match_outputs
from shared.contracts import launch
from shared.contracts.launch import WorkerLaunch
from tests.support import ROOT


def setting(tmp_path: Path, env: dict[str, str]) -> Setting:
    return Setting(WorkerLaunch.from_env(env), {}, tmp_path, env)


def test_one_executor_per_cloud_type():
    assert set(executors.EXECUTORS) == set(launch.CLOUD_TYPES)
    for module in executors.EXECUTORS.values():
        assert callable(importlib.import_module(module).set_up)


def test_the_launch_chooses_the_executor(tmp_path: Path):
    assert isinstance(executors.set_up(setting(tmp_path, {})), HostExecutor)
    local = {launch.EXECUTOR: "local", launch.BUILD_USER: "no-such-user-here"}
    with pytest.raises(SetupError, match="the build user no-such-user-here does not exist"):
        executors.set_up(setting(tmp_path, local))
    with pytest.raises(SetupError, match="names no engine"):
        executors.set_up(setting(tmp_path, {launch.EXECUTOR: "docker"}))
    with pytest.raises(SetupError, match="CYCLONE_POD_NAME, CYCLONE_POD_NAMESPACE not set"):
        executors.set_up(setting(tmp_path, {launch.EXECUTOR: "kubernetes"}))


def test_the_worker_imports_neither_the_cloud_service_nor_other_clouds_clients():
    code = (
        "import sys, services.worker.main; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'docker', 'kubernetes'}), "
        "[m for m in sys.modules if m.startswith('services.cloud')])"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[] []"


# --- outputs --------------------------------------------------------------------------------


def test_outputs_on_the_host_and_in_a_listing_follow_the_same_contract(tmp_path: Path):
    (tmp_path / "out" / "sub").mkdir(parents=True)
    for name in ("app.txt", "out/a.jar", "out/sub/b.jar"):
        (tmp_path / name).write_text("x")
    listing = ["app.txt", "out", "out/a.jar", "out/sub", "out/sub/b.jar"]
    for where in (tmp_path, listing):
        assert match_outputs(where, ["out/*.jar", "app.txt", "out/a.jar"]) == [
            "out/a.jar",
            "app.txt",
        ]
        assert match_outputs(where, ["**/*.jar"]) == ["out/a.jar", "out/sub/b.jar"]
        with pytest.raises(OutputError, match=r'^output "nothing" not found$') as missing:
            match_outputs(where, ["app.txt", "nothing"])
        assert missing.value.pattern == "nothing"
        assert isinstance(missing.value, LookupError)
        with pytest.raises(OutputError, match="output") as bad:
            match_outputs(where, ["nothing", "../up"])  # checked before anything is matched
        assert bad.value.pattern == "../up"
    assert imaging.match_outputs is match_outputs


def test_host_outputs_stay_inside_the_code(tmp_path: Path):
    code = tmp_path / "code"
    code.mkdir()
    (tmp_path / "secret").write_text("x")
    (code / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(OutputError, match='output "link" not found'):
        HostExecutor(tmp_path).outputs(["link"])
