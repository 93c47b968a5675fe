"""Encryption of secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256, from `cryptography`).

`CYCLONE_SECRET_KEY` is either a Fernet key (44 characters of URL-safe base64, 256 random
bits: what `make run` generates) or a passphrase an operator chose. A Fernet key is used as
is. A passphrase is stretched with scrypt (N=2^15, r=8, p=1: ~70 ms and 32 MiB per
derivation) and a random 16-byte salt, so a stolen database cannot be attacked with one
precomputed table for every install, and each guess costs what the derivation costs.

Where the salt lives: in every value it sealed. Sealed values look like

    enc:v1:<fernet token>                 Fernet key; or a passphrase stretched the old way
                                          (one unsalted SHA-256: read, never written)
    enc:v2:<salt, base64url>:<fernet token>   passphrase stretched with scrypt and that salt

so nothing besides the key has to be given to every service (api, scheduler, scm, cloud,
on one host or many). A box draws one salt when it first seals, so one process's values share
it, and derives the key of each salt it opens once (cached), not per value.

Migration of values sealed the old way: they stay readable (`enc:v1:` under a passphrase uses
the old derivation), and the gateway seals them again the new way whenever it writes the
resource they belong to (`reseal`, called by services/api/domain/secrets.seal); see
docs/architecture.md, "Keys".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
from typing import TypeVar, cast

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

PREFIX = "enc:v1:"
SALTED_PREFIX = "enc:v2:"
PREFIXES = (PREFIX, SALTED_PREFIX)

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
_MAX_CACHED_SALTS = 256
J = TypeVar("J")


def stretch(passphrase: bytes, salt: bytes) -> bytes:
    """The Fernet key (URL-safe base64 of 32 bytes) for a passphrase and a salt."""
    kdf = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return base64.urlsafe_b64encode(kdf.derive(passphrase))


def legacy_stretch(passphrase: bytes) -> bytes:
    """How a passphrase became a key before salts: one SHA-256 (kept to read old values)."""
    return base64.urlsafe_b64encode(hashlib.sha256(passphrase).digest())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SecretBox:
    """Encrypts and decrypts short strings with one key (a Fernet key or a passphrase)."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("a secret key is required")
        raw = key.encode()
        self._passphrase: bytes | None = None
        try:
            self._fernet = Fernet(raw)
        except ValueError:
            self._passphrase = raw
            self._fernet = Fernet(legacy_stretch(raw))  # only opens `enc:v1:` values
        self._salt: bytes | None = None
        self._by_salt: dict[bytes, Fernet] = {}
        self._lock = threading.Lock()

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    @property
    def stretches(self) -> bool:
        """Whether the key is a passphrase (and new values are `enc:v2:`)."""
        return self._passphrase is not None

    def _salted(self, salt: bytes) -> Fernet:
        assert self._passphrase is not None
        with self._lock:
            found = self._by_salt.get(salt)
        if found is None:
            found = Fernet(stretch(self._passphrase, salt))
            with self._lock:
                if len(self._by_salt) >= _MAX_CACHED_SALTS:
                    self._by_salt.pop(next(iter(self._by_salt)))
                self._by_salt[salt] = found
        return found

    def encrypt(self, plain: str) -> str:
        if self._passphrase is None:
            return PREFIX + self._fernet.encrypt(plain.encode()).decode()
        if self._salt is None:
            self._salt = os.urandom(SALT_BYTES)
        token = self._salted(self._salt).encrypt(plain.encode()).decode()
        return f"{SALTED_PREFIX}{_b64(self._salt)}:{token}"

    def decrypt(self, stored: str) -> str:
        if not is_encrypted(stored):
            raise ValueError("value is not an encrypted secret")
        if stored.startswith(SALTED_PREFIX):
            if self._passphrase is None:
                raise ValueError("secret was sealed with a passphrase key, not this key")
            salt_text, _, token = stored[len(SALTED_PREFIX) :].partition(":")
            try:
                fernet = self._salted(_unb64(salt_text))
            except (binascii.Error, ValueError) as exc:
                raise ValueError("secret has a malformed salt") from exc
        else:
            fernet, token = self._fernet, stored[len(PREFIX) :]
        try:
            return fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with this key") from exc

    def is_current(self, stored: str) -> bool:
        """Whether `stored` is sealed the way this box seals now (else `reseal` renews it)."""
        return stored.startswith(SALTED_PREFIX if self.stretches else PREFIX)

    def reseal(self, stored: str) -> str:
        """`stored` sealed the current way: the same value when it already is, else decrypted
        and sealed again (ValueError when this key cannot open it)."""
        if not is_encrypted(stored) or self.is_current(stored):
            return stored
        return self.encrypt(self.decrypt(stored))


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIXES)


def decrypt_all(value: J, box: SecretBox) -> J:
    """A copy of a JSON-like value with every sealed string decrypted (for a worker's job):
    the same shape, so the same type."""
    return cast(J, _decrypted(value, box))


def _decrypted(value: object, box: SecretBox) -> object:
    if isinstance(value, dict):
        return {k: _decrypted(v, box) for k, v in value.items()}
    if isinstance(value, list):
        return [_decrypted(v, box) for v in value]
    if isinstance(value, str) and is_encrypted(value):
        return box.decrypt(value)
    return value
