"""A GitHub or GitLab delivery for one pipeline: deduplicate, match, start the run.

The gateway has already checked the delivery's signature (X-Hub-Signature-256 or
X-Gitlab-Token) against the pipeline's secret before sending it here (services/api/resources/
hooks.py): this service never receives the secret, and sees only authenticated deliveries.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from services.scm import vetting
from services.scm.deliveries import DeliveryStore
from services.scm.domain import events, triggers
from shared import timefmt
from shared.contracts import rpc
from shared.contracts.errors import InvalidRequest
from shared.contracts.records import RecordView


def receive(
    delivery: rpc.WebhookDelivery,
    store: DeliveryStore,
    create_record: Callable[[rpc.RecordRequest], RecordView],
    started: Callable[[str, str], None] | None = None,
    accounts: vetting.Accounts | None = None,
) -> rpc.WebhookOutcome:
    """`started(record id, commit sha)` is told about a run this delivery started (the sha
    is "" when the payload names none, e.g. a GitHub comment). `accounts` opens the
    project's SCM account, for what a payload does not say (services/scm/vetting.py): a
    comment whose author may not write is refused, and a run of a fork's pull request is
    created untrusted (no secrets)."""
    provider, body = delivery["provider"], delivery["body"]
    try:
        event = events.parse(provider, delivery["event"], delivery["delivery_id"], json.loads(body))
    except (ValueError, events.BadPayload) as exc:
        raise InvalidRequest(f"cannot read the {provider} payload: {exc}") from exc
    scm_trigger = delivery["pipeline"].get("autoTrigger", {}).get("scmTrigger")
    decision = triggers.match(event, scm_trigger)
    if not decision.run:
        return {"status": "ignored", "reason": decision.reason}
    refusal = vetting.comment_refusal(event, delivery["project"], accounts)
    if refusal:
        return {"status": "refused", "reason": refusal}
    key = f"{provider}:{delivery['pipeline']['id']}:{delivery['delivery_id']}"
    if delivery["delivery_id"] and not store.first_time(key, timefmt.now()):
        return {"status": "duplicate", "reason": f"delivery {delivery['delivery_id']} was seen"}
    request = rpc.RecordRequest(
        project=delivery["project"],
        pipeline=delivery["pipeline"],
        params={"ref": decision.ref, "stages": decision.stages},
        trigger="scmTrigger",
        owner="",
    )
    if delivery["delivery_id"]:
        # The provider's retry of a delivery whose first try made the record but got no
        # answer (a timeout, a restart) answers that record rather than making a second.
        request["key"] = key
        request["key_given"] = True
    try:
        event, untrusted = vetting.untrusted_reason(
            event, delivery["project"], delivery["pipeline"], accounts
        )
        if untrusted:
            request["untrusted"] = untrusted
        record = create_record(request)
    except Exception:
        store.forget(key)  # let the provider's retry start it
        raise
    if started is not None:
        started(record["id"], event.head_sha or event.commit or "")
    outcome: rpc.WebhookOutcome = {
        "status": "started",
        "reason": decision.reason,
        "record": record["id"],
    }
    if untrusted:
        outcome["untrusted"] = untrusted
    return outcome
