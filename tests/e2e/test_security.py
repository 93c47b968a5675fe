"""What a build can reach on the Local cloud: nothing of the control plane's.

The stack runs as root here (CI and the development machines), so the Local cloud runs build
commands as the unprivileged build user (docs/security.md). A build that tries every side door
(its environment, its identity, the data dir's keys, every /proc/*/environ it can read) must
find none of the API token, the secret key, the broker's password, a project's SCM token or
its worker token.
"""

from __future__ import annotations

import os
import pwd
from urllib.parse import urlsplit

import pytest
from kombu import Connection, Exchange
from nameko.standalone.rpc import ClusterRpcProxy
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from shared.contracts import events, logs
from shared.contracts.errors import Unauthorized
from shared.publish import EventDispatcher
from shared.workertoken import WorkerTokens
from tests.e2e.conftest import Runs, pipeline_body
from tests.support import StackProcess

AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch to the build user")

SNOOP = [
    "env",
    "id",
    "echo uid=$(id -u)",
    "cat {data}/secret-key {data}/api-token {data}/mongo-url || true",
    "ls -la {data} || true",
    "for f in /proc/[0-9]*/environ; do (tr '\\0' '\\n' < $f) 2>/dev/null || true; done",
    "for f in /proc/[0-9]*/cmdline; do (tr '\\0' ' ' < $f) 2>/dev/null || true; echo; done",
    "cat $HOME/../../*.worker.log 2>/dev/null || true",
]


@AS_ROOT  # CI and the development machines run as root
def test_a_local_build_sees_no_secret_of_the_control_plane(
    runs: Runs, stack: StackProcess, git_repo
):
    data = stack.data_dir
    runs.pipeline(
        pipeline_body(
            "snoop",
            git_repo.url,
            package=[line.format(data=data) for line in SNOOP],
            env=[{"name": "GREETING", "value": "hello"}],
        )
    )
    done = runs.wait("snoop", runs.start("snoop")["id"], timeout=90)
    assert done["status"] == "Success", (done, runs.log("snoop", done["id"]).text[-3000:])
    done = runs.settled("snoop", done["id"], {"codeCheckout": "Success", "package": "Success"})
    log = runs.log_through("snoop", done["id"], "Stage: Package status: finish", stage="package")
    secret_key = (data / "secret-key").read_text().strip()
    broker_password = urlsplit(stack.amqp_uri).password or ""
    leaks = {
        "the API token": stack.token,
        "the secret key": secret_key,
        "the broker URL": stack.amqp_uri,
        "the broker password": f":{broker_password}@",
        "the SCM token": "scm-secret-token",
        "a masked secret": "******",
        "a worker token": "CYCLONE_WORKER_TOKEN",
        "the Mongo URL": "CYCLONE_MONGO_URL",
    }
    found = {what for what, value in leaks.items() if value and value in log}
    assert not found, f"the build saw {found}"
    build_uid = pwd.getpwnam("cyclone-build").pw_uid
    assert f"uid={build_uid}" in log
    assert "uid=0" not in log.replace(f"uid={build_uid}", "")
    env = dict(
        line.split("=", 1)
        for line in log.split("$ id")[0].splitlines()
        if "=" in line and not line.startswith(("$", "Stage:"))
    )
    assert env["CI"] == "true" and env["GREETING"] == "hello"
    assert env["CYCLONE_RECORD_ID"] == done["id"]
    assert env["CYCLONE_PIPELINE"] == "snoop"
    assert (
        env["CYCLONE_COMMIT_SHA"]
        == done["stageStatus"]["codeCheckout"]["commits"]["mainRepo"]["ID"]
    )
    made = {"PATH", "HOME", "PWD", "SHLVL", "_", "OLDPWD"}
    unexpected = set(env) - made - {"GREETING", "CI"} - {k for k in env if k.startswith("CYCLONE_")}
    assert not unexpected, f"inherited: {unexpected}"


def test_reports_without_the_records_worker_token_change_nothing(
    runs: Runs, stack: StackProcess, git_repo
):
    runs.pipeline(pipeline_body("long", git_repo.url, package=["echo started", "sleep 30"]))
    other = runs.wait("long", runs.start("long")["id"], {"Running"})
    victim = runs.wait("long", runs.start("long")["id"], {"Running"})
    runs.log_through("long", victim["id"], "$ sleep 30", stage="package")
    tokens = WorkerTokens((stack.data_dir / "secret-key").read_text().strip())
    config = {"AMQP_URI": stack.amqp_uri, "serializer": "json"}
    with ClusterRpcProxy(config, timeout=10) as rpc:
        for token in ("", "wrong", tokens.issue(other["id"])):
            # the contract's error type (shared/contracts/errors.py registers it with nameko)
            with pytest.raises(Unauthorized, match="no valid worker token"):
                rpc.scheduler.get_job(victim["id"], token)
    publish = EventDispatcher(config)
    forged = {"record_id": victim["id"], "time": "2026-01-01T00:00:00.000Z", "log_lines": 0}
    for token in ("wrong", tokens.issue(other["id"])):
        publish(*events.RUN_FINISHED, {**forged, "status": "Failed", "worker_token": token})
        publish(
            *events.STAGE_FINISHED,
            {**forged, "stage": "package", "status": "Failed", "worker_token": token},
        )
    # the other record's own report, carrying an end of the victim's stage: its token proves
    # the other record only
    when = forged["time"]
    end = {"record_id": victim["id"], "stage": "package", "status": "Failed", "time": when}
    carrier = {"record_id": other["id"], "stage": "package", "time": when}
    publish(
        *events.STAGE_STARTED,
        {**carrier, "previous": end, "worker_token": tokens.issue(other["id"])},
    )
    with Connection(stack.amqp_uri) as conn:
        batch = {
            "record_id": victim["id"],
            "seq": 10_000,
            "stage": "package",
            "lines": ["forged line"],
            "worker_token": "wrong",
        }
        exchange = Exchange(logs.EXCHANGE, type="direct", durable=True)
        conn.Producer().publish(
            batch,
            exchange=exchange,
            routing_key=logs.ROUTING_KEY,
            serializer="json",
            declare=[exchange],
        )
    # The scheduler and the logs service handle these in order with the real worker's reports:
    # the victim's own next report (its end) shows whether a forged one went through.
    resp = runs.api.patch(runs.url("long", victim["id"], "/status"), json={"status": "Aborted"})
    assert resp.status_code == 200, resp.text
    done = runs.wait("long", victim["id"])
    assert done["status"] == "Aborted", done
    # the stage's Aborted: assumed at the abort, then the worker's own report (a forged Failed
    # one would have replaced the first)
    runs.settled("long", victim["id"], {"codeCheckout": "Success", "package": "Aborted"})
    assert "forged line" not in runs.log("long", victim["id"]).text
    runs.api.patch(runs.url("long", other["id"], "/status"), json={"status": "Aborted"})


def test_the_embedded_database_refuses_a_client_without_its_password(stack: StackProcess):
    url = urlsplit((stack.data_dir / "mongo-url").read_text().strip())
    assert url.password, "the stack's own URL carries its credentials"
    anonymous = f"mongodb://{url.hostname}:{url.port}/cyclone"
    with (
        MongoClient(anonymous, serverSelectionTimeoutMS=5000) as client,
        pytest.raises(OperationFailure, match="requires authentication"),
    ):
        client.cyclone.projects.find_one()
    mode = (stack.data_dir / "mongo-password").stat().st_mode & 0o777
    assert mode == 0o600, oct(mode)
