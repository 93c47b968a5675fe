"""What a build on the Docker cloud can reach: its builder container, nothing of the control
plane's (the worker, its broker URL and its token stay on the cloud service's host)."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.docker.conftest import REGISTRY_PASSWORD, DockerRuns, pipeline, settled_log
from tests.support import StackProcess

SNOOP = [
    "env",
    "id",
    "cat {data}/secret-key {data}/api-token 2>&1 || true",
    "for f in /proc/[0-9]*/environ; do (tr '\\0' '\\n' < $f) 2>/dev/null || true; done",
]


def test_a_docker_build_sees_no_secret_of_the_control_plane(
    druns: DockerRuns, docker_stack: StackProcess, app_repo
):
    data = docker_stack.data_dir
    druns.pipeline(
        pipeline("snoop", app_repo, {"package": {"command": [s.format(data=data) for s in SNOOP]}})
    )
    record = druns.run("snoop")
    stages = {"codeCheckout": "Success", "package": "Success"}
    record, text = settled_log(druns, "snoop", record["id"], stages)
    assert record["status"] == "Success", (record, text)
    secret_key = (data / "secret-key").read_text().strip()
    leaks = {
        "the API token": docker_stack.token,
        "the secret key": secret_key,
        "the broker URL": docker_stack.amqp_uri,
        "the broker password": f":{urlsplit(docker_stack.amqp_uri).password}@",
        "the SCM token": "scm-secret-token",
        "the registry password": REGISTRY_PASSWORD,
        "a masked secret": "******",
        "a worker token": "CYCLONE_WORKER_TOKEN",
    }
    found = {what for what, value in leaks.items() if value and value in text}
    assert not found, f"the build saw {found}"
    assert "No such file or directory" in text  # the data dir is not in the container
    assert "CI=true" in text and f"CYCLONE_RECORD_ID={record['id']}" in text
    assert "GREETING=hi" in text
