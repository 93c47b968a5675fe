"""shared/crypto.py: a passphrase is stretched with scrypt and a salt kept in each sealed value;
values sealed the old way (one unsalted SHA-256) still open and are sealed again on a write."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.fernet import Fernet, InvalidToken

from services.api.domain import secrets
from shared.crypto import (
    PREFIX,
    SALTED_PREFIX,
    SecretBox,
    decrypt_all,
    is_encrypted,
    legacy_stretch,
    stretch,
)

PASSPHRASE = "correct horse battery staple"


def sealed_the_old_way(passphrase: str, plain: str) -> str:
    """What SecretBox wrote before salts, spelled out independently of the module."""
    key = base64.urlsafe_b64encode(hashlib.sha256(passphrase.encode()).digest())
    return "enc:v1:" + Fernet(key).encrypt(plain.encode()).decode()


def test_a_passphrase_seals_with_a_salt_and_scrypt():
    box = SecretBox(PASSPHRASE)
    sealed = box.encrypt("s3cret")
    assert sealed.startswith(SALTED_PREFIX) and is_encrypted(sealed)
    salt_text, _, token = sealed[len(SALTED_PREFIX) :].partition(":")
    salt = base64.urlsafe_b64decode(salt_text + "=" * (-len(salt_text) % 4))
    assert len(salt) == 16
    # The key is scrypt(passphrase, salt), not SHA-256(passphrase).
    assert Fernet(stretch(PASSPHRASE.encode(), salt)).decrypt(token.encode()) == b"s3cret"
    with pytest.raises(InvalidToken):
        Fernet(legacy_stretch(PASSPHRASE.encode())).decrypt(token.encode())
    assert box.decrypt(sealed) == "s3cret"


def test_salts_differ_between_boxes_and_any_box_with_the_passphrase_opens_them():
    one, two = SecretBox(PASSPHRASE), SecretBox(PASSPHRASE)
    a, b = one.encrypt("x"), two.encrypt("x")
    assert a.split(":")[2] != b.split(":")[2]  # another process, another salt
    assert one.decrypt(b) == "x" and two.decrypt(a) == "x"
    assert one.encrypt("y").split(":")[2] == a.split(":")[2]  # one salt per box
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox("another passphrase").decrypt(a)


def test_values_sealed_the_old_way_still_open_and_are_resealed():
    box = SecretBox(PASSPHRASE)
    old = sealed_the_old_way(PASSPHRASE, "legacy")
    assert old.startswith(PREFIX) and not box.is_current(old)
    assert box.decrypt(old) == "legacy"
    assert decrypt_all({"scm": {"token": old}}, box) == {"scm": {"token": "legacy"}}
    renewed = box.reseal(old)
    assert renewed.startswith(SALTED_PREFIX) and box.decrypt(renewed) == "legacy"
    assert box.reseal(renewed) == renewed  # current values are left alone


def test_a_fernet_key_is_used_as_is():
    key = SecretBox.generate_key()
    box = SecretBox(key)
    sealed = box.encrypt("v")
    assert sealed.startswith(PREFIX) and box.is_current(sealed)
    assert Fernet(key.encode()).decrypt(sealed[len(PREFIX) :].encode()) == b"v"
    assert box.reseal(sealed) == sealed
    with pytest.raises(ValueError, match="passphrase"):
        box.decrypt(SecretBox(PASSPHRASE).encrypt("v"))


def test_malformed_values_are_refused():
    box = SecretBox(PASSPHRASE)
    for bad in ("enc:v2:%%%:token", "enc:v2:AAAA:not-a-token", "plain"):
        with pytest.raises(ValueError):
            box.decrypt(bad)


def test_a_write_reseals_what_it_keeps():
    """The migration: the gateway's seal() renews a kept old value (PUT with `******`)."""
    box = SecretBox(PASSPHRASE)
    stored = {
        "scm": {"type": "Github", "server": "https://github.com"},
        "registry": {"server": "r", "repository": "x", "password": ""},
    }
    stored["scm"]["token"] = sealed_the_old_way(PASSPHRASE, "tok")
    new = {"scm": {"type": "Github", "server": "https://github.com", "token": "******"}}
    secrets.seal(new, stored, secrets.project_paths, box.encrypt, box.reseal)
    assert new["scm"]["token"].startswith(SALTED_PREFIX)
    assert box.decrypt(new["scm"]["token"]) == "tok"
    # Without a reseal function (or when the key cannot open it) the value is kept as is.
    kept = {"scm": {"type": "Github", "server": "https://github.com"}}
    secrets.seal(kept, stored, secrets.project_paths, box.encrypt)
    assert kept["scm"]["token"] == stored["scm"]["token"]
    foreign = {"scm": {"type": "Github", "server": "https://github.com"}}
    secrets.seal(foreign, stored, secrets.project_paths, box.encrypt, SecretBox("other").reseal)
    assert foreign["scm"]["token"] == stored["scm"]["token"]
