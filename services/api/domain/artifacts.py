"""Pure rules of the artifact and rerun endpoints (no falcon, no bus): Range headers, download
names, the streamed tar.gz, the rerun body."""

from __future__ import annotations

import posixpath
import re
import tarfile
import zlib
from typing import Any

from services.api.domain.errors import ValidationFailed

RANGE = re.compile(r"bytes=(\d*)-(\d*)")
TAR_BLOCK = 512
RERUN_FROM = ("start", "failed")


class Unsatisfiable(ValueError):
    """A Range the file cannot serve (416, with `Content-Range: bytes */size`)."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) byte positions of a single `bytes=` range, or None to send the whole
    file (no header, a unit other than bytes, several ranges: RFC 9110 lets a server ignore
    Range). Raises Unsatisfiable for a range that starts past the end or is empty."""
    if not header:
        return None
    spec = header.strip()
    if "," in spec:
        return None
    found = RANGE.fullmatch(spec.replace(" ", ""))
    if not found:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise Unsatisfiable(header)
        return max(size - length, 0), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored, as RFC 9110 says
    if start >= size:
        raise Unsatisfiable(header)
    end = int(last) if last else size - 1
    return start, min(end, size - 1)


def etag(sha256: str) -> str:
    return f'"{sha256}"'


def etag_matches(header: str | None, sha256: str) -> bool:
    """If-None-Match: `*` or one of the listed (strong or weak) tags is the file's."""
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag(sha256) in tags


def download_name(path: str) -> str:
    """The file's own name for `Content-Disposition` (quotes and controls replaced)."""
    name = posixpath.basename(path) or "artifact"
    return "".join(c if c.isprintable() and c not in '"\\' else "_" for c in name)


def archive_name(project: str, pipeline: str, record_id: str) -> str:
    return f"{project}-{pipeline}-{record_id}-artifacts.tar.gz"


def rerun_spec(body: Any) -> str:
    """`{"from": "start" | "failed"}`; an empty body means from the start."""
    if body is None:
        return "start"
    if not isinstance(body, dict):
        raise ValidationFailed("the rerun body must be a JSON object")
    unknown = sorted(set(body) - {"from"})
    if unknown:
        raise ValidationFailed(f"unknown field(s) in the rerun body: {', '.join(unknown)}")
    start_from = body.get("from", "start")
    if start_from not in RERUN_FROM:
        raise ValidationFailed(f"from must be one of {list(RERUN_FROM)}, got {start_from!r}")
    return str(start_from)


class TarGz:
    """A tar.gz written as it goes: each call returns the compressed bytes ready to send, so
    an archive of any size streams in constant memory. Members are regular files, named by
    their artifact paths (never absolute, never `..`: the logs service checked them)."""

    def __init__(self, level: int = 6) -> None:
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
        self._left = 0  # bytes the current member still expects
        self._size = 0

    def begin(self, path: str, size: int, mode: int, mtime: float) -> bytes:
        if self._left:
            raise ValueError("the previous member is not complete")
        info = tarfile.TarInfo(path)
        info.size, info.mode, info.mtime, info.type = (
            size,
            mode & 0o777,
            int(mtime),
            tarfile.REGTYPE,
        )
        self._left, self._size = size, size
        return self._z.compress(info.tobuf(format=tarfile.PAX_FORMAT))

    def data(self, chunk: bytes) -> bytes:
        if len(chunk) > self._left:
            raise ValueError("more bytes than the member's size")
        self._left -= len(chunk)
        return self._z.compress(chunk)

    def end(self) -> bytes:
        """Close the member: its padding to a whole 512-byte block."""
        if self._left:
            raise ValueError(f"the member lacks {self._left} bytes")
        pad = -self._size % TAR_BLOCK
        self._size = 0
        return self._z.compress(b"\0" * pad)

    def close(self) -> bytes:
        """The end-of-archive blocks and the gzip trailer."""
        return self._z.compress(b"\0" * (2 * TAR_BLOCK)) + self._z.flush()
