"""After a record ends: queue what it leads to, and send it from the outbox with retries.

`AfterRun.record_finished` only plans and inserts (milliseconds), so event handling never
waits on a slow receiver; `AfterRun.drain` (the service's 1 s timer) sends what is due, a
few at a time in green threads, and reschedules failures with doubling delays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from eventlet.greenpool import GreenPool

from services.scm import outbox as ob
from services.scm import senders
from services.scm import settings as cfg
from services.scm.domain import notify
from shared import timefmt
from shared.contracts.catalog import Pipeline, Project
from shared.contracts.events import RecordFinished

log = logging.getLogger(__name__)

PENDING_STATUS = "status:pending"
BATCH = 50  # deliveries claimed per timer tick at most
PARALLEL = 10  # sent at once


class AfterRun:
    def __init__(
        self,
        outbox: ob.Outbox,
        settings: cfg.Delivery,
        send: Callable[[ob.OutboxItem], senders.Result],
        clock: Callable[[], datetime] = timefmt.now,
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.send = send
        self.clock = clock
        self.lease = timedelta(seconds=3 * settings.timeout + 30)

    # --- queueing ---------------------------------------------------------------------------

    def run_started(self, record_id: str, project: Project, pipeline: Pipeline, sha: str) -> None:
        """A webhook started a run on `sha`: mark the commit pending."""
        where = notify.scm_repo(project, pipeline)
        if not where or not sha:
            return
        link = notify.record_link(
            self.settings.public_url, project["name"], pipeline["name"], record_id
        )
        status = notify.status_delivery("pending", sha, *where, pipeline["name"], link)
        status.target["scm"] = project.get("scm", {})
        self.outbox.add(record_id, [status], self.clock())

    def record_finished(self, payload: RecordFinished) -> int:
        """Queue the notifications, commit status and tag of an ended record."""
        record, project = payload.get("record"), payload.get("project")
        pipeline = payload.get("pipeline")
        if record is None or project is None or pipeline is None:
            return 0  # from a scheduler older than these fields
        finished = notify.Finished(record=record, project=project, pipeline=pipeline)
        record_id, now = payload["record_id"], self.clock()
        sha = None
        if not notify.commit_of(record):  # the pending status's commit stands in for it
            pending = self.outbox.get(record_id, PENDING_STATUS)
            sha = pending["target"].get("sha") if pending else None
        planned = notify.plan(finished, self.settings.public_url, pending_sha=sha)
        scm = project.get("scm", {})
        for d in planned:
            if d.kind in ("status", "tag"):
                d.target["scm"] = scm  # sealed credentials, opened only when sending
        statuses = [d for d in planned if d.kind == "status"]
        others = [d for d in planned if d.kind != "status"]
        added = self.outbox.add(record_id, others, now)
        if statuses:
            # The final status must land after a pending one still being sent.
            in_flight = self.outbox.supersede(record_id, PENDING_STATUS, now)
            added += self.outbox.add(record_id, statuses, now, not_before=in_flight)
        return added

    # --- sending ----------------------------------------------------------------------------

    def drain(self) -> int:
        """Send what is due; returns how many were tried."""
        pool = GreenPool(PARALLEL)
        tried = 0
        while tried < BATCH:
            doc = self.outbox.claim(self.clock(), self.lease)
            if doc is None:
                break
            pool.spawn_n(self._attempt, doc)
            tried += 1
        pool.waitall()
        return tried

    def _attempt(self, doc: ob.OutboxItem) -> None:
        try:
            outcome, note = self.send(doc)
        except Exception as exc:  # an unexpected failure is retried, not lost
            log.exception("sending %s failed", doc["_id"])
            outcome, note = "retry", f"{type(exc).__name__}: {exc}"
        now = self.clock()
        what = f"{doc['kind']} {doc['_id']} (try {doc['attempts']})"
        delay = notify.retry_delay(
            doc["attempts"], self.settings.attempts, self.settings.retry_base
        )
        if outcome == "done":
            self.outbox.finish(doc["_id"], ob.DONE, now, note)
            log.info("sent %s%s", what, f": {note}" if note else "")
        elif outcome == "skipped":
            self.outbox.finish(doc["_id"], ob.SKIPPED, now, note)
            log.info("skipped %s: %s", what, note)
        elif outcome == "retry" and delay is not None:
            self.outbox.retry(doc["_id"], now + timedelta(seconds=delay), note)
            log.warning("%s failed, again in %gs: %s", what, delay, note)
        else:
            self.outbox.finish(doc["_id"], ob.FAILED, now, note)
            log.warning("gave up on %s: %s", what, note)
