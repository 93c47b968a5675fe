"""An untrusted job (a fork's pull request, as scheduler.get_job answers it): the real runtime
says so in the log, runs what needs no secret, and skips the release with a reason."""

from __future__ import annotations

import threading

from services.worker.runtime import Runner
from tests.worker.conftest import make_job

WHY = "pull request #7 comes from fork mallory/app into acme/app"


def untrusted_job(url: str, **kwargs) -> dict:
    job = make_job(
        url,
        kind="other",
        ref="main",
        package=['echo "key=[$KEY]"'],
        env=[{"name": "KEY", "value": "", "secret": True}],  # withheld: emptied by the scheduler
        stages=["codeCheckout", "package", "imageRelease"],
        **kwargs,
    )
    job["pipeline"]["build"]["stages"]["imageRelease"] = {
        "releasePolicies": [{"imageName": "app", "type": "Always"}]
    }
    job["project"]["registry"] = {"server": "reg.example.com", "username": "bot", "password": ""}
    job["untrusted"] = WHY
    job["withheld"] = ["project.registry.password", "pipeline.build.builderImage.envVars.0.value"]
    return job


def test_untrusted_run_skips_the_release_with_a_reason_and_succeeds(git_repo, workspace, sink):
    job = untrusted_job(git_repo.url)
    status = Runner(job, sink, workspace, threading.Event()).run()
    assert status == "Success", sink.text()
    checkout = sink.text("codeCheckout")
    assert checkout[:3] == [
        "Stage: Code checkout status: start",
        f"Untrusted run: {WHY}. It gets no secrets: the checkout is anonymous and stages that "
        "need a secret are skipped.",
        "Secrets withheld: project.registry.password, pipeline.build.builderImage.envVars.0.value",
    ]
    assert "key=[]" in sink.text("package")
    reason = (
        f"untrusted run ({WHY}): images are not pushed to the project's registry "
        "(the pipeline may opt in with autoTrigger.scmTrigger.forkSecrets)"
    )
    # No Docker engine on this worker: a trusted run's release would fail for want of one;
    # the untrusted run never gets that far.
    assert sink.text("imageRelease") == [
        "Stage: Push image status: start",
        f"Stage: Push image status: skipped: {reason}",
    ]
    finished = sink.finished("imageRelease")
    assert finished["status"] == "Skipped" and finished["details"] == {"skipReason": reason}
    assert "error" not in finished
    assert "error" not in sink.run_finished and sink.run_finished["status"] == "Success"


def test_the_same_job_trusted_tries_the_release(git_repo, workspace, sink):
    job = untrusted_job(git_repo.url)
    del job["untrusted"], job["withheld"]
    status = Runner(job, sink, workspace, threading.Event()).run()
    assert status == "Failed"
    assert sink.finished("imageRelease")["status"] == "Failed"
    assert not any(line.startswith("Untrusted run") for line in sink.text())
