"""Encryption of secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256, from `cryptography`)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "enc:v1:"


class SecretBox:
    """Encrypts and decrypts short strings with one key.

    Any string is accepted as a key: a 44-char Fernet key is used as is, anything else is
    stretched with SHA-256, so operators can set a passphrase.
    """

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("a secret key is required")
        raw = key.encode()
        try:
            self._fernet = Fernet(raw)
        except ValueError:
            self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(raw).digest()))

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plain: str) -> str:
        return PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not is_encrypted(stored):
            raise ValueError("value is not an encrypted secret")
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with this key") from exc


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def decrypt_all(value: object, box: SecretBox) -> object:
    """A copy of a JSON-like value with every sealed string decrypted (for a worker's job)."""
    if isinstance(value, dict):
        return {k: decrypt_all(v, box) for k, v in value.items()}
    if isinstance(value, list):
        return [decrypt_all(v, box) for v in value]
    if is_encrypted(value):
        return box.decrypt(value)  # type: ignore[arg-type]
    return value
