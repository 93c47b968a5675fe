"""A nameko dependency handing a service its MongoDB database (one client per container).

Each service wraps the database in its own `store.py`; only collections the service owns
may be touched (docs/architecture.md).
"""

from __future__ import annotations

from typing import Any

from nameko.extensions import DependencyProvider
from pymongo import MongoClient
from pymongo.database import Database

from shared import config


def settings_of(container: Any) -> config.Settings:
    """The Settings the runner put in the nameko config (shared/runner.py)."""
    found = container.config.get("CYCLONE")
    return found if isinstance(found, config.Settings) else config.load()


# Writes are acknowledged once in the server's journal (writeConcern j:true): a record, a log
# line or a delivery acknowledged to a client survives a crash of the database server (with
# MongoDB's default j:false, the last ~100 ms of acknowledged writes may not).
JOURNALED = True


def connect(settings: config.Settings) -> MongoClient[dict[str, Any]]:
    if not settings.mongo_url:
        raise RuntimeError("CYCLONE_MONGO_URL is not set (make run sets it)")
    return MongoClient(
        settings.mongo_url, tz_aware=True, serverSelectionTimeoutMS=10000, journal=JOURNALED
    )


class MongoDatabase(DependencyProvider):  # type: ignore[misc]  # nameko ships no type information
    """The service's database, opened when the container sets up and closed when it stops;
    a subclass builds its store on `self.database` and hands that to workers in its own
    `get_dependency` (one client per provider)."""

    database: Database[dict[str, Any]]

    def setup(self) -> None:
        settings = settings_of(self.container)
        self.client = connect(settings)
        self.database = self.client[settings.mongo_db]

    def stop(self) -> None:
        self.client.close()

    def kill(self) -> None:
        self.client.close()
