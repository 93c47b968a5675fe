"""Slack and webhook URLs of notifications are secrets, end to end: the scm service opens the
sealed URL to send; the URL is in no API answer, in no file of the data dir (the database
included) and in no log line of the stack."""

from __future__ import annotations

from pymongo import MongoClient

from tests.afterrun.conftest import notified, project
from tests.waiting import wait_for


def test_slack_and_webhook_urls_are_sealed_sent_and_never_shown(
    api, unique, git_repo, receiver, after_stack
):
    slack_path = f"/services/T0/B0/{unique}-slack-secret"
    hook_path = f"/{unique}/hook-secret?token={unique}-query-secret"
    runs = project(api, unique)
    body = notified(
        "told",
        git_repo.url,
        "Always",
        [
            {"type": "slack", "addresses": [receiver.url + slack_path]},
            {"type": "webhook", "addresses": [receiver.url + hook_path]},
        ],
        package=["true"],
    )
    runs.pipeline(body)
    shown = api.get(f"/api/v1/projects/{unique}/pipelines/told").json()
    assert [r["addresses"] for r in shown["notification"]["receivers"]] == [["******"]] * 2

    record = runs.run("told")
    assert record["status"] == "Success", record
    wait_for(lambda: receiver.at(slack_path) and receiver.at(hook_path), 30, "both deliveries")
    (slack,) = receiver.at(slack_path)
    assert slack.body["text"].startswith(f"{unique}/told record ")

    # The outbox keeps what it sent, sealed, and its notes name the host only.
    url = (after_stack.data_dir / "mongo-url").read_text().strip()
    with MongoClient(url) as client:
        db = client.get_default_database()

        def marked_done() -> list[dict]:
            kinds = {"record": record["id"], "kind": {"$in": ["slack", "webhook"]}}
            found = [d for d in db.scm_outbox.find(kinds) if d.get("state") == "done"]
            # both: the two are sent side by side, each marked done after its answer
            assert len(found) == 2, found
            return found

        done = wait_for(marked_done, 15, "the deliveries marked done")
    for doc in done:
        assert doc["target"]["url"].startswith("enc:")
        assert "secret" not in doc.get("lastError", "") and "/******" in doc["lastError"]

    secrets = [f"{unique}-slack-secret", f"{unique}-query-secret", "hook-secret"]
    logs = after_stack.log_path.read_text(errors="replace")
    assert [s for s in secrets if s in logs] == []
    leaked = []
    for path in after_stack.data_dir.rglob("*"):
        try:
            data = path.read_bytes() if path.is_file() else b""
        except FileNotFoundError:  # the running stack removed it meanwhile (a workspace, ...)
            continue
        leaked += [f"{path}: {s}" for s in secrets if s.encode() in data]
    assert leaked == []
