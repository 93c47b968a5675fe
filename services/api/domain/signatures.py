"""Who sent a hook: GitHub HMAC signatures, GitLab and SVN shared secrets.

The original accepted any payload (original-server.md §14 item 7); these checks let the
gateway refuse deliveries that do not carry the pipeline's webhook secret, before the body
goes to another service (docs/api.md, "GitHub and GitLab webhooks", "SVN post-commit hook").
Every comparison takes constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_GITHUB_PREFIX = "sha256="
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def github_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body` signed with `secret`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _GITHUB_PREFIX + digest


def verify_github(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` (X-Hub-Signature-256) is the HMAC-SHA256 of the exact raw `body`.

    The body must be the bytes as received, before any JSON decoding. A missing or
    malformed header, or an empty secret (which anybody could sign with), is False. The
    digest comparison takes constant time.
    """
    if not secret or not isinstance(header, str):
        return False
    header = header.strip()
    if not header.startswith(_GITHUB_PREFIX):
        return False
    given = header[len(_GITHUB_PREFIX) :]
    if not _HEX64.fullmatch(given):
        return False
    expected = github_signature(secret, body)[len(_GITHUB_PREFIX) :]
    return hmac.compare_digest(expected.encode("ascii"), given.lower().encode("ascii"))


def same_secret(secret: str, header: str | None) -> bool:
    """Whether `header` (X-Gitlab-Token, X-Cyclone-Secret) equals the pipeline's secret.

    GitLab and the SVN hook send the secret itself, not a signature. Both sides are hashed
    before the constant-time comparison so that neither the content nor the length of the
    secret leaks through timing. An empty secret or a missing header is False.
    """
    if not secret or not isinstance(header, str):
        return False
    expected = hashlib.sha256(secret.encode("utf-8")).digest()
    given = hashlib.sha256(header.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(expected, given)


def verify_gitlab(secret: str, header: str | None) -> bool:
    """Whether `header` (X-Gitlab-Token) equals the pipeline's secret."""
    return same_secret(secret, header)
