"""Webhook authentication over the exact bytes of real GitHub/GitLab deliveries."""

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from services.api.domain.signatures import (
    github_signature,
    same_secret,
    verify_github,
    verify_gitlab,
)

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "webhooks"
FILES = sorted(FIXTURES.rglob("*.json"))
SECRET = "s3cr3t-webhook-key"


def sign(secret: str, body: bytes) -> str:
    """Computed here, independently of the module under test."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_fixtures_are_there():
    assert len(FILES) >= 13, FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_valid_signature_over_fixture_bytes(path: Path):
    body = path.read_bytes()
    assert verify_github(SECRET, body, sign(SECRET, body)) is True


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_wrong_secret(path: Path):
    body = path.read_bytes()
    assert verify_github(SECRET, body, sign("another-secret", body)) is False


def test_tampered_body():
    body = (FIXTURES / "github" / "push.new-branch.json").read_bytes()
    header = sign(SECRET, body)
    tampered = body.replace(b'"refs/heads/master"', b'"refs/heads/mastex"')
    assert tampered != body
    assert verify_github(SECRET, tampered, header) is False
    assert verify_github(SECRET, body + b" ", header) is False
    assert verify_github(SECRET, body[:-1], header) is False


def test_reencoded_json_is_not_the_signed_body():
    """The check must run on the raw bytes, before any JSON decoding."""
    body = (FIXTURES / "github" / "ping.json").read_bytes()
    reencoded = json.dumps(json.loads(body)).encode()
    assert reencoded != body
    assert verify_github(SECRET, reencoded, sign(SECRET, body)) is False


@pytest.mark.parametrize("header", [None, "", "   ", "sha256=", "sha256"])
def test_missing_or_empty_header(header):
    body = (FIXTURES / "github" / "ping.json").read_bytes()
    assert verify_github(SECRET, body, header) is False


def test_wrong_prefix():
    body = (FIXTURES / "github" / "ping.json").read_bytes()
    digest = sign(SECRET, body).removeprefix("sha256=")
    sha1 = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    assert verify_github(SECRET, body, f"sha1={sha1}") is False  # the legacy X-Hub-Signature
    assert verify_github(SECRET, body, f"sha1={digest}") is False
    assert verify_github(SECRET, body, digest) is False
    assert verify_github(SECRET, body, f"SHA256={digest}") is False
    assert verify_github(SECRET, body, f"sha512={digest}") is False


def test_malformed_digest():
    body = (FIXTURES / "github" / "ping.json").read_bytes()
    good = sign(SECRET, body)
    assert verify_github(SECRET, body, good[:-1]) is False  # truncated
    assert verify_github(SECRET, body, good + "0") is False  # too long
    assert verify_github(SECRET, body, "sha256=" + "z" * 64) is False
    assert verify_github(SECRET, body, good[:-1] + "é") is False  # non-ASCII: no TypeError


def test_uppercase_hex_and_surrounding_space_are_accepted():
    body = (FIXTURES / "github" / "ping.json").read_bytes()
    digest = sign(SECRET, body).removeprefix("sha256=")
    assert verify_github(SECRET, body, "sha256=" + digest.upper()) is True
    assert verify_github(SECRET, body, f" sha256={digest} ") is True


def test_empty_secret_verifies_nothing():
    """Anybody can sign with an empty key, so it must not count as authenticated."""
    body = (FIXTURES / "github" / "ping.json").read_bytes()
    assert verify_github("", body, sign("", body)) is False


def test_non_ascii_secret():
    body = (FIXTURES / "github" / "ping.json").read_bytes()
    assert verify_github("clé-секрет", body, sign("clé-секрет", body)) is True
    assert verify_github("clé-секрет", body, sign("cle-секрет", body)) is False


def test_github_signature_helper_matches_github():
    body = (FIXTURES / "github" / "release.published.json").read_bytes()
    assert github_signature(SECRET, body) == sign(SECRET, body)


def test_github_documented_example():
    """The example in GitHub's "Validating webhook deliveries" documentation."""
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert verify_github("It's a Secret to Everybody", b"Hello, World!", expected) is True
    assert verify_github("It's a Secret to Everybody", b"Hello, World?", expected) is False


def test_gitlab_token():
    assert verify_gitlab(SECRET, SECRET) is True
    assert verify_gitlab(SECRET, "wrong") is False
    assert verify_gitlab(SECRET, SECRET[:-1]) is False
    assert verify_gitlab(SECRET, SECRET + "x") is False
    assert verify_gitlab(SECRET, SECRET.upper()) is False
    assert verify_gitlab(SECRET, f" {SECRET}") is False  # equality, not "close enough"


def test_gitlab_missing_header_or_secret():
    assert verify_gitlab(SECRET, None) is False
    assert verify_gitlab(SECRET, "") is False
    assert verify_gitlab("", "") is False
    assert verify_gitlab("", None) is False


def test_gitlab_non_ascii():
    assert verify_gitlab("clé", "clé") is True
    assert verify_gitlab("clé", "cle") is False


def test_svn_hook_secret_is_plain_equality():
    """X-Cyclone-Secret (the SVN post-commit hook) is compared like GitLab's token."""
    assert same_secret(SECRET, SECRET) is True
    assert same_secret(SECRET, SECRET + " ") is False
    assert same_secret(SECRET, "") is False and same_secret("", "") is False
    assert same_secret(SECRET, None) is False
