"""Domain errors; the HTTP layer maps each to one status code (services/api/errors.py)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    reason = "Error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(DomainError):
    reason = "ValidationFailed"


class NotFound(DomainError):
    reason = "NotFound"


class Conflict(DomainError):
    reason = "Conflict"
