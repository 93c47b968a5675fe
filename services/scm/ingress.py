"""A GitHub or GitLab delivery for one pipeline: verify, deduplicate, match, start the run."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from services.scm.deliveries import DeliveryStore
from services.scm.domain import events, signatures, triggers
from shared import timefmt
from shared.contracts import rpc
from shared.contracts.errors import InvalidRequest, Unauthorized


def receive(
    delivery: rpc.WebhookDelivery,
    store: DeliveryStore,
    create_record: Callable[[dict[str, Any]], dict[str, Any]],
    started: Callable[[str, str], None] | None = None,
) -> rpc.WebhookOutcome:
    """`started(record id, commit sha)` is told about a run this delivery started (the sha
    is "" when the payload names none, e.g. a GitHub comment)."""
    provider, body = delivery["provider"], delivery["body"]
    if not delivery["secret"]:
        raise Unauthorized(
            "the pipeline has no webhook secret (autoTrigger.scmTrigger.webhookSecret)"
        )
    ok = (
        signatures.verify_github(delivery["secret"], body.encode(), delivery["signature"])
        if provider == "github"
        else signatures.verify_gitlab(delivery["secret"], delivery["signature"])
    )
    if not ok:
        header = "X-Hub-Signature-256" if provider == "github" else "X-Gitlab-Token"
        raise Unauthorized(f"missing or wrong {header}")
    try:
        event = events.parse(provider, delivery["event"], delivery["delivery_id"], json.loads(body))
    except (ValueError, events.BadPayload) as exc:
        raise InvalidRequest(f"cannot read the {provider} payload: {exc}") from exc
    scm_trigger = (delivery["pipeline"].get("autoTrigger") or {}).get("scmTrigger")
    decision = triggers.match(event, scm_trigger)
    if not decision.run:
        return {"status": "ignored", "reason": decision.reason}
    key = f"{provider}:{delivery['pipeline']['id']}:{delivery['delivery_id']}"
    if delivery["delivery_id"] and not store.first_time(key, timefmt.now()):
        return {"status": "duplicate", "reason": f"delivery {delivery['delivery_id']} was seen"}
    request = {
        "project": delivery["project"],
        "pipeline": delivery["pipeline"],
        "params": {"ref": decision.ref, "stages": decision.stages},
        "trigger": "scmTrigger",
        "owner": "",
    }
    try:
        record = create_record(request)
    except Exception:
        store.forget(key)  # let the provider's retry start it
        raise
    if started is not None:
        started(record["id"], event.head_sha or event.commit or "")
    return {"status": "started", "reason": decision.reason, "record": record["id"]}
