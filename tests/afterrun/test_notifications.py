"""Notifications after a run, end to end: a real stack, a real git repository, a local HTTP
server as webhook receiver and a local SMTP server."""

from __future__ import annotations

import os
import signal
from email import message_from_string

from tests.afterrun.conftest import notified, project
from tests.waiting import holds_for, wait_for


def test_webhook_retries_5xx_then_delivers_once_and_mail_is_sent(
    api, unique, git_repo, receiver, smtp
):
    flaky, gone = f"/{unique}/flaky", f"/{unique}/gone"
    receiver.script[flaky] = [500, 500, 200]
    receiver.script[gone] = [404]
    runs = project(api, unique)
    runs.pipeline(
        notified(
            "ok",
            git_repo.url,
            "Always",
            [
                {"type": "webhook", "addresses": [receiver.url + flaky, receiver.url + gone]},
                {"type": "email", "addresses": [f"{unique}@example.com", "ops@example.com"]},
            ],
            package=["echo packaged"],
        )
    )
    record = runs.run("ok")
    assert record["status"] == "Success", record

    wait_for(lambda: any(h.answered == 200 for h in receiver.at(flaky)), 30)
    tries = receiver.at(flaky)
    assert [h.answered for h in tries] == [500, 500, 200]
    assert len({h.headers["X-Cyclone-Delivery"] for h in tries}) == 1
    assert all(h.body == tries[0].body for h in tries)
    body = tries[-1].body
    assert body["event"] == "record_finished"
    assert body["record"]["id"] == record["id"] and body["record"]["status"] == "Success"
    assert body["record"]["name"] == record["name"]
    assert body["record"]["commit"] == git_repo.main_sha
    assert [s["name"] for s in body["record"]["stages"]] == ["codeCheckout", "package"]
    assert body["pipeline"] == {"id": record["pipelineID"], "name": "ok"}
    assert body["project"]["name"] == unique
    assert body["link"] == (
        f"https://ci.example.com/ui/projects/{unique}/pipelines/ok/records/{record['id']}"
    )
    # A 4xx is final: one try only (each address is a delivery of its own, sent in any order;
    # a second try would come within the flaky receiver's first retry delays).
    wait_for(lambda: receiver.at(gone), 15, "the try at the 404 address")
    holds_for(lambda: len(receiver.at(gone)) == 1, 1, "a single try at the 404 address")
    assert [h.answered for h in receiver.at(gone)] == [404]

    def mails() -> list[tuple[list[str], str]]:
        return [m for m in smtp.messages if f"{unique}@example.com" in m[0]]

    wait_for(lambda: len(mails()) == 1, 15)
    ((rcpts, raw),) = mails()
    assert sorted(rcpts) == sorted([f"{unique}@example.com", "ops@example.com"])
    mail = message_from_string(raw)
    assert mail["From"] == "ci@cyclone.test"
    assert mail["Subject"] == f"[Cyclone] {unique}/ok record {record['name']}: Success"
    assert record["id"] in mail.get_payload()


def test_failure_policy_is_silent_for_a_success(api, unique, git_repo, receiver):
    path = f"/{unique}/failures"
    runs = project(api, unique)
    hook = [{"type": "webhook", "addresses": [receiver.url + path]}]
    runs.pipeline(notified("fine", git_repo.url, "Failure", hook, package=["true"]))
    runs.pipeline(notified("broken", git_repo.url, "Failure", hook, package=["exit 3"]))
    ok = runs.run("fine")
    assert ok["status"] == "Success"
    bad = runs.run("broken")
    assert bad["status"] == "Failed"
    wait_for(lambda: len(receiver.at(path)) >= 1, 15)
    (hit,) = receiver.at(path)
    assert hit.body["record"]["id"] == bad["id"] and hit.body["record"]["status"] == "Failed"
    assert hit.body["record"]["errorMessage"]
    failed = [s for s in hit.body["record"]["stages"] if s["status"] == "Failed"]
    assert [s["name"] for s in failed] == ["package"] and failed[0]["error"]


def test_a_pending_delivery_survives_a_restart_of_the_scm_service(
    api, unique, git_repo, receiver, after_stack
):
    path = f"/{unique}/later"
    receiver.script[path] = [503]
    runs = project(api, unique)
    hook = [{"type": "webhook", "addresses": [receiver.url + path]}]
    runs.pipeline(notified("p", git_repo.url, "Success", hook, package=["true"]))
    record = runs.run("p")
    wait_for(lambda: len(receiver.at(path)) >= 1, 15)
    old = after_stack.pids()["scm"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: after_stack.pids()["scm"] != old, 15)
    # Only now the receiver accepts: a try the killed service sent just before it died is
    # answered long before its successor starts, and no 200 may go to a dead sender.
    receiver.script[path] = [200]
    wait_for(lambda: any(h.answered == 200 for h in receiver.at(path)), 60)
    delivered = [h for h in receiver.at(path) if h.answered == 200]
    assert len(delivered) == 1 and delivered[0].body["record"]["id"] == record["id"]
