"""Pure rules of kept artifacts (no pymongo, no nameko): names, sizes, the per-record limit,
which chunks make a file and which hold a byte range.

A file is stored as GridFS lays it out (bucket `artifacts`): one `artifacts.files` document
and chunks `{files_id, n, data}` of `chunkSize` bytes, the last one shorter. Its document
carries `metadata.state`: `uploading` while chunks arrive, `staged` once its bytes are
complete and their sha256 checked, `kept` when its stage succeeded. Only kept files are
listed and served; the others belong to a stage still running or one that failed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared import timefmt
from shared.contracts.artifacts import DEFAULT_MAX_BYTES, MAX_BYTES_ENV, Artifact
from shared.envvars import Env

UPLOADING, STAGED, KEPT = "uploading", "staged", "kept"
MAX_PATH = 1024
SHA256 = re.compile(r"[0-9a-f]{64}")


class ArtifactRefused(ValueError):
    """A call breaks a rule (bad path, over the limit, a chunk that does not fit)."""


def max_bytes(env: Mapping[str, str] | None = None) -> int:
    """CYCLONE_ARTIFACTS_MAX_BYTES: what one record may keep in all (default 1 GiB)."""
    value = Env(env).integer(MAX_BYTES_ENV, DEFAULT_MAX_BYTES)
    if value < 0:
        raise SystemExit(f"{MAX_BYTES_ENV} must be >= 0, got {value}")
    return value


def path_problem(path: object) -> str | None:
    """Why `path` cannot name an artifact: it must be relative to the code directory,
    `/`-separated and normalised (no `.` or `..` segment), so it can never leave it."""
    if not isinstance(path, str) or not path:
        return "an artifact path must be a non-empty string"
    if len(path) > MAX_PATH:
        return f"artifact path longer than {MAX_PATH} characters"
    if "\x00" in path or "\\" in path:
        return f'artifact path "{path}" holds a NUL or a backslash'
    if path.startswith("/"):
        return f'artifact path "{path}" is absolute'
    if any(part in ("", ".", "..") for part in path.split("/")):
        return f'artifact path "{path}" is not a normalised relative path'
    return None


def human(size: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def limit_problem(path: str, size: int, used: int, limit: int) -> str | None:
    """Why a file of `size` bytes cannot join a record already holding `used` bytes."""
    if used + size <= limit:
        return None
    return (
        f'artifact "{path}" ({human(size)}) would bring the record\'s artifacts to '
        f"{human(used + size)}, over the limit of {human(limit)} ({MAX_BYTES_ENV})"
    )


def chunk_count(size: int, chunk_size: int) -> int:
    return -(-size // chunk_size)


def chunk_problem(n: object, length: int, size: int, chunk_size: int) -> str | None:
    """Why chunk `n` of `length` bytes does not belong to a file of `size` bytes."""
    count = chunk_count(size, chunk_size)
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < count:
        return f"chunk {n!r} is not one of the file's {count} chunks"
    want = chunk_size if n < count - 1 else size - chunk_size * (count - 1)
    if length != want:
        return f"chunk {n} holds {length} bytes, expected {want}"
    return None


def chunks_for(offset: int, length: int, chunk_size: int) -> tuple[int, int]:
    """First and last chunk numbers holding bytes offset..offset + length - 1 (length > 0)."""
    return offset // chunk_size, (offset + length - 1) // chunk_size


def read_problem(offset: object, length: object, size: int, most: int) -> str | None:
    for name, value in (("offset", offset), ("length", length)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"{name} must be an integer >= 0, got {value!r}"
    assert isinstance(offset, int) and isinstance(length, int)
    if length > most:
        return f"length must be at most {most}, got {length}"
    if offset > size:
        return f"offset {offset} is past the end ({size} bytes)"
    return None


def item(doc: Mapping[str, Any], internal: bool = False) -> Artifact:
    """A files document as the API lists it (with `id` and `mode` for services)."""
    meta = doc.get("metadata") or {}
    created = doc.get("uploadDate")
    out = Artifact(
        path=str(meta.get("path", doc.get("filename", ""))),
        size=int(doc.get("length", 0)),
        sha256=str(meta.get("sha256", "")),
        stage=str(meta.get("stage", "")),
        creationTime=(timefmt.rfc3339(created) if isinstance(created, datetime) else "") or "",
    )
    if internal:
        out["id"] = str(doc.get("_id"))
        out["mode"] = int(meta.get("mode", 0o644))
    return out


def file_mode(mode: object) -> int:
    """Permission bits worth keeping: rwx for user, group, others (no setuid, sticky)."""
    return int(mode) & 0o777 if isinstance(mode, int) and not isinstance(mode, bool) else 0o644
