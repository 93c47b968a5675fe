"""Clouds: stored as the gateway validated and sealed them, pinged, deleted when idle.

Plain code over the `clouds` store and the supervisor (no nameko, no pymongo). A cloud is
pinged by its type's backend, and which driver its workers get is the supervisor's business
(both from the registry, services/cloud/backends).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar, cast

from services.cloud import backends
from services.cloud.backends import pinging
from services.cloud.store import StoredCloud
from services.cloud.supervisor import Supervisor
from shared.contracts.catalog import Cloud
from shared.contracts.errors import NotFound
from shared.contracts.rpc import PingResult
from shared.crypto import SecretBox, decrypt_all, is_encrypted

C = TypeVar("C", bound=Mapping[str, object])  # a cloud, as stored or as answered


class Store(Protocol):
    """What the catalog needs of `store.CloudStore`."""

    def create(self, doc: Cloud) -> Cloud: ...
    def find(self, name: str) -> StoredCloud | None: ...
    def get(self, name: str) -> Cloud: ...
    def list(self) -> list[Cloud]: ...
    def replace(self, name: str, doc: Cloud) -> Cloud: ...
    def delete(self, name: str) -> None: ...


class CloudCatalog:
    def __init__(
        self,
        store: Store,
        supervisor: Supervisor,
        secret_key: str,
        probe: Callable[[Cloud], PingResult] = backends.ping,
    ) -> None:
        self.store = store
        self.supervisor = supervisor
        self._box = SecretBox(secret_key) if secret_key else None
        self._probe = probe

    def create(self, doc: Cloud) -> Cloud:
        return self.store.create(doc)

    def get(self, name: str) -> Cloud:
        return self.store.get(name)

    def list(self) -> list[Cloud]:
        return self.store.list()

    def replace(self, name: str, doc: Cloud) -> Cloud:
        return self.store.replace(name, doc)

    def delete(self, name: str) -> None:
        """NotFound for an unknown cloud; Conflict while workers run in it."""
        self._stored(name)
        with self.supervisor.retiring(name):
            self.store.delete(name)

    def ping(self, name: str) -> PingResult:
        """NotFound for an unknown cloud; otherwise the cloud's answer, ok or not."""
        stored = self._stored(name)
        try:
            cloud = self.unsealed(stored)
        except ValueError as exc:
            return pinging.error(f"cannot decrypt the secrets of cloud {name}: {exc}")
        return self._probe(cast(Cloud, cloud))

    def unsealed(self, stored: C) -> C:
        """The cloud with its sealed secrets decrypted (ValueError when they cannot be)."""
        if not _has_sealed(stored):
            return stored
        if self._box is None:
            raise ValueError("CYCLONE_SECRET_KEY is not set")
        return decrypt_all(stored, self._box)

    def _stored(self, name: str) -> StoredCloud:
        found = self.store.find(name)
        if found is None:
            raise NotFound(f"cloud {name} not found")
        return found


def _has_sealed(value: object) -> bool:
    if isinstance(value, dict):
        return any(_has_sealed(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_sealed(v) for v in value)
    return is_encrypted(value)
