"""The scm service's `webhook_deliveries` collection: delivery ids already acted on."""

from __future__ import annotations

from datetime import datetime

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError


class DeliveryStore:
    def __init__(self, db: Database) -> None:
        self.deliveries = db.webhook_deliveries

    def ensure_indexes(self) -> None:
        # Providers redeliver within days; a month of ids is plenty.
        self.deliveries.create_index("at", expireAfterSeconds=30 * 86400)

    def first_time(self, key: str, now: datetime) -> bool:
        """Remember `key`; False when it was seen before (a redelivery)."""
        try:
            self.deliveries.insert_one({"_id": key, "at": now})
        except DuplicateKeyError:
            return False
        return True

    def forget(self, key: str) -> None:
        self.deliveries.delete_one({"_id": key})
