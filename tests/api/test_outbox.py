"""The gateway's outbox keeps events the broker refused and publishes them later."""

from __future__ import annotations

import asyncio
import uuid

from pymongo import AsyncMongoClient

from services.api.clients import Bus
from services.api.events import EventPublisher
from services.api.store import CatalogStore
from shared.contracts import events
from tests.api.conftest import EventTap


def test_events_survive_a_broker_outage(stack):
    mongo_url = (stack.data_dir / "mongo-url").read_text().strip()
    down = {"AMQP_URI": "amqp://guest:guest@127.0.0.1:1/", "serializer": "json"}
    up = {"AMQP_URI": stack.amqp_uri, "serializer": "json"}
    payload = events.PipelineDeleted(
        project_id="p" * 24, project="outbox", pipeline_id=uuid.uuid4().hex[:24], pipeline="gone"
    )
    tap = EventTap(stack.amqp_uri)

    async def scenario() -> tuple[int, int, int]:
        client: AsyncMongoClient = AsyncMongoClient(mongo_url)
        store = CatalogStore(client, f"outbox{uuid.uuid4().hex[:8]}")
        await store.ensure_indexes()
        store.outbox.RETRY_AFTER = store.outbox.RETRY_AFTER * 0  # a refused event is due again
        broken = Bus(down, timeout=2)
        await EventPublisher(store.outbox, broken).announce([(events.PIPELINE_DELETED, payload)])
        kept = await store.outbox.pending()
        working = Bus(up, timeout=5)
        sent = await EventPublisher(store.outbox, working).flush()
        left = await store.outbox.pending()
        broken.close()
        working.close()
        await client.drop_database(store.db.name)
        await client.close()
        return kept, sent, left

    try:
        kept, sent, left = asyncio.run(scenario())
        assert (kept, sent, left) == (1, 1, 0)
        mine = tap.collect(1, where=lambda body: body.get("pipeline_id") == payload["pipeline_id"])
        assert mine == [("pipeline_deleted", dict(payload))]
    finally:
        tap.close()
