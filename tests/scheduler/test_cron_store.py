"""Cron triggers under late, repeated and reordered saves and deletions (the events are
retried, so each may arrive again or after a newer one), against the real embedded server."""

from __future__ import annotations

from pymongo import MongoClient

from services.scheduler.cron_store import CronStore

T1, T2 = "2026-12-05T10:00:00.000Z", "2026-12-05T10:00:05.000Z"


def trigger(pipeline: str, expression: str) -> dict:
    return {"_id": f"{pipeline}:0", "pipelineID": pipeline, "expression": expression}


def expressions(store: CronStore, pipeline: str) -> list[str]:
    return [d["expression"] for d in store.triggers.find({"pipelineID": pipeline})]


def test_a_save_applies_again_but_never_over_a_newer_save(mongo_url, unique):
    with MongoClient(mongo_url) as client:
        store = CronStore(client.get_default_database())
        store.ensure_indexes()
        assert store.replace_pipeline(unique, T1, [trigger(unique, "* * * * *")])
        assert store.replace_pipeline(unique, T1, [trigger(unique, "* * * * *")])  # redelivered
        assert expressions(store, unique) == ["* * * * *"]
        assert store.replace_pipeline(unique, T2, [])  # cron removed by a newer save
        assert not store.replace_pipeline(unique, T1, [trigger(unique, "* * * * *")])  # late
        assert expressions(store, unique) == []


def test_a_save_retried_after_the_deletion_brings_nothing_back(mongo_url, unique):
    with MongoClient(mongo_url) as client:
        store = CronStore(client.get_default_database())
        store.ensure_indexes()
        assert store.replace_pipeline(unique, T1, [trigger(unique, "0 * * * *")])
        store.delete_pipelines([unique])
        store.delete_pipelines([unique])  # redelivered
        assert not store.replace_pipeline(unique, T2, [trigger(unique, "0 * * * *")])
        assert expressions(store, unique) == []
        # a deletion seen before any save of the pipeline is remembered too
        other = f"{unique}-b"
        store.delete_pipelines([other])
        assert not store.replace_pipeline(other, T1, [trigger(other, "0 * * * *")])
        assert expressions(store, other) == []
