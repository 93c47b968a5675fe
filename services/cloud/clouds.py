"""Clouds: stored as the gateway validated and sealed them, pinged, deleted when idle.

Plain code over the `clouds` store and the supervisor (no nameko, no pymongo). Which driver
a stored cloud's workers get is the supervisor's business (`domain.driver_for`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from services.cloud import probes
from services.cloud.supervisor import Supervisor
from shared.contracts.errors import NotFound
from shared.contracts.rpc import PingResult
from shared.crypto import SecretBox, decrypt_all, is_encrypted


class Store(Protocol):
    """What the catalog needs of `store.CloudStore`."""

    def create(self, doc: dict[str, Any]) -> dict[str, Any]: ...
    def find(self, name: str) -> dict[str, Any] | None: ...
    def get(self, name: str) -> dict[str, Any]: ...
    def list(self) -> list[dict[str, Any]]: ...
    def replace(self, name: str, doc: dict[str, Any]) -> dict[str, Any]: ...
    def delete(self, name: str) -> None: ...


class CloudCatalog:
    def __init__(
        self,
        store: Store,
        supervisor: Supervisor,
        secret_key: str,
        probe: Callable[[Mapping[str, Any]], PingResult] = probes.ping,
    ) -> None:
        self.store = store
        self.supervisor = supervisor
        self._box = SecretBox(secret_key) if secret_key else None
        self._probe = probe

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self.store.create(doc)

    def get(self, name: str) -> dict[str, Any]:
        return self.store.get(name)

    def list(self) -> list[dict[str, Any]]:
        return self.store.list()

    def replace(self, name: str, doc: dict[str, Any]) -> dict[str, Any]:
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
            return probes.error(f"cannot decrypt the secrets of cloud {name}: {exc}")
        return self._probe(cloud)

    def unsealed(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The cloud with its sealed secrets decrypted (ValueError when they cannot be)."""
        if not _has_sealed(stored):
            return stored
        if self._box is None:
            raise ValueError("CYCLONE_SECRET_KEY is not set")
        return decrypt_all(stored, self._box)  # type: ignore[return-value]

    def _stored(self, name: str) -> dict[str, Any]:
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
