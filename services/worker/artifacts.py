"""Keeping a stage's outputs as artifacts, and restoring a reused stage's artifacts in a rerun.

Files go to the logs service one chunk per RPC call (shared/contracts/artifacts.py), read
from the workspace as they are sent: on the host (Local cloud, and the pod's shared
workspace on Kubernetes) file by file, in a builder container as the tar stream of
`get_archive`. Nothing holds a whole file. A stage's files are kept together or not at all:
any failure (the record's limit, the broker) discards what the stage had sent.

Reading the workspace never follows a symbolic link, and restoring never writes through one:
the workspace is the build's, and on the Local cloud the worker runs as root.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import posixpath
import stat
import tarfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from services.worker.bus import RpcSession
from shared.contracts import artifacts as art
from shared.contracts import services

Log = Callable[[str], None]
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


class ArtifactError(Exception):
    """Keeping or restoring failed; the message says what and why (the stage's error)."""


class Aborted(Exception):
    """The run was asked to stop while files moved."""


@dataclass
class SourceFile:
    """One file to keep: its path under the code directory, and a stream of its bytes."""

    path: str
    size: int
    mode: int
    stream: IO[bytes]


def human(size: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


# --- the logs service ---------------------------------------------------------------------------


class ArtifactClient:
    """The worker's calls for its record (with its token) and, in a rerun, for the record
    whose artifacts it restores (with the scheduler's read grant)."""

    def __init__(
        self,
        amqp_uri: str,
        record_id: str,
        token: str,
        abort: threading.Event | None = None,
        session: RpcSession | None = None,
    ) -> None:
        self.record_id = record_id
        self.token = token
        self.abort = abort or threading.Event()
        self.session = session or RpcSession(amqp_uri)

    def _call(self, method: str, *args: object) -> Any:
        return self.session.call(services.LOGS, method, args)

    def keep(self, stage: str, files: Iterable[SourceFile], log: Log) -> list[str]:
        """Send every file, then keep them all; on any failure discard what was sent."""
        uploads: list[str] = []
        try:
            for source in files:
                uploads.append(self._upload(stage, source))
                log(f"artifact: {source.path} ({human(source.size)})")
            return list(self._call(art.KEEP, self.record_id, self.token, stage, uploads))
        except BaseException:
            with contextlib.suppress(Exception):  # the record's deletion removes leftovers
                self._call(art.DISCARD, self.record_id, self.token, stage)
            raise

    def _upload(self, stage: str, source: SourceFile) -> str:
        begun = self._call(
            art.BEGIN, self.record_id, self.token, stage, source.path, source.size, source.mode
        )
        upload, chunk_size = begun["upload"], int(begun["chunk_size"])
        digest = hashlib.sha256()
        in_flight: deque[str] = deque()
        sent = n = 0
        while sent < source.size:
            if self.abort.is_set():
                raise Aborted()
            data = _read_up_to(source.stream, min(chunk_size, source.size - sent))
            if not data:
                break
            digest.update(data)
            in_flight.append(
                self.session.send(
                    services.LOGS,
                    art.CHUNK,
                    [self.record_id, self.token, upload, n, base64.b64encode(data).decode()],
                )
            )
            sent, n = sent + len(data), n + 1
            if len(in_flight) >= art.WINDOW:
                self.session.wait(in_flight.popleft(), f"chunk of {source.path}")
        while in_flight:
            self.session.wait(in_flight.popleft(), f"chunk of {source.path}")
        if sent != source.size or source.stream.read(1):
            raise ArtifactError(f'artifact "{source.path}" changed size while it was kept')
        self._call(art.COMMIT, self.record_id, self.token, upload, digest.hexdigest())
        return upload

    # --- a rerun: what the reused stages kept ----------------------------------------------

    def manifest(self, restore: art.Restore) -> list[art.Artifact]:
        """The files of one reused stage; ArtifactError names the first one that is gone."""
        found = {
            item["path"]: item
            for item in self._call(
                art.MANIFEST, restore["record"], self.record_id, self.token, restore["grant"]
            )
        }
        missing = [p for p in restore["paths"] if p not in found]
        if missing:
            raise ArtifactError(
                f'artifact "{missing[0]}" of stage {restore["stage"]} (record '
                f"{restore['record']}) no longer exists; run again from the start"
            )
        return [found[p] for p in restore["paths"]]

    def restore(
        self, restore: art.Restore, items: list[art.Artifact], root: Path, log: Log
    ) -> None:
        for item in items:
            fd = open_for_write(root, item["path"], int(item.get("mode", 0o644)))
            with os.fdopen(fd, "wb") as out:
                digest = hashlib.sha256()
                for data in self._fetch(restore, item):
                    digest.update(data)
                    out.write(data)
            if digest.hexdigest() != item["sha256"]:
                raise ArtifactError(f'artifact "{item["path"]}" came back with another sha256')
            log(f"restored {item['path']} ({human(item['size'])}) from record {restore['record']}")

    def _fetch(self, restore: art.Restore, item: art.Artifact) -> Iterator[bytes]:
        step = art.CHUNK_SIZE
        offsets = iter(range(0, item["size"], step))
        in_flight: deque[str] = deque()

        def ask(offset: int) -> None:
            in_flight.append(
                self.session.send(
                    services.LOGS,
                    art.FETCH,
                    [
                        restore["record"],
                        self.record_id,
                        self.token,
                        restore["grant"],
                        item.get("id", ""),
                        offset,
                        step,
                    ],
                )
            )

        for offset in offsets:
            ask(offset)
            if len(in_flight) >= art.WINDOW:
                break
        while in_flight:
            if self.abort.is_set():
                raise Aborted()
            data = base64.b64decode(self.session.wait(in_flight.popleft(), item["path"]))
            next_offset = next(offsets, None)
            if next_offset is not None:
                ask(next_offset)
            yield data

    def close(self) -> None:
        self.session.close()


def _read_up_to(stream: IO[bytes], size: int) -> bytes:
    parts, left = [], size
    while left > 0:
        data = stream.read(left)
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


# --- the workspace on this host -----------------------------------------------------------------


def host_files(root: Path, outputs: Iterable[str], log: Log) -> Iterator[SourceFile]:
    """Regular files under the outputs (folders as trees), each once, in order; symbolic
    links and special files are left out (said in the log), never followed."""
    seen: set[str] = set()
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for output in outputs:
            parts = [p for p in output.split("/") if p not in ("", ".")]
            if not parts or ".." in parts:
                continue
            try:
                parent = _open_dirs(root_fd, parts[:-1])
            except OSError as exc:
                raise ArtifactError(f'cannot read output "{output}": {exc.strerror}') from exc
            try:
                yield from _entry(parent, parts[-1], "/".join(parts), seen, log)
            finally:
                os.close(parent)
    finally:
        os.close(root_fd)


def _open_dirs(fd: int, parts: list[str]) -> int:
    """An fd of the folder `parts` under fd, no link followed (ELOOP/ENOTDIR otherwise)."""
    current = os.dup(fd)
    for part in parts:
        try:
            nxt = os.open(part, DIR_FLAGS, dir_fd=current)
        finally:
            os.close(current)
        current = nxt
    return current


def _entry(parent: int, name: str, path: str, seen: set[str], log: Log) -> Iterator[SourceFile]:
    info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if stat.S_ISDIR(info.st_mode):
        fd = os.open(name, DIR_FLAGS, dir_fd=parent)
        try:
            for child in sorted(os.listdir(fd)):
                yield from _entry(fd, child, f"{path}/{child}", seen, log)
        finally:
            os.close(fd)
        return
    if not stat.S_ISREG(info.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        log(f"artifact: {path} left out ({kind})")
        return
    if path in seen:
        return
    seen.add(path)
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent)
    with os.fdopen(fd, "rb") as stream:
        now = os.fstat(stream.fileno())
        if not stat.S_ISREG(now.st_mode):
            log(f"artifact: {path} left out (not a regular file)")
            return
        yield SourceFile(path, now.st_size, now.st_mode & 0o777, stream)


def open_for_write(root: Path, path: str, mode: int) -> int:
    """A new file at `path` under root (folders made as needed), never through a link the
    checkout may hold; its permission bits are `mode` (the umask does not apply)."""
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ArtifactError(f'artifact path "{path}" is not a plain relative path')
    current = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=current)
            nxt = os.open(part, DIR_FLAGS, dir_fd=current)
            os.close(current)
            current = nxt
        fd = os.open(
            parts[-1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600, dir_fd=current
        )
    except OSError as exc:
        raise ArtifactError(
            f'cannot restore artifact "{path}": {exc.strerror} (a link or file in the way?)'
        ) from exc
    finally:
        os.close(current)
    os.fchmod(fd, mode & 0o777)
    return fd


# --- a builder container's workspace: get_archive's tar stream ---------------------------------


class ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks (the engine's archive stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def tar_files(
    output: str, chunks: Iterable[bytes], seen: set[str], log: Log
) -> Iterator[SourceFile]:
    """Regular files of one output's archive (`get_archive` names its top entry by the
    output's last segment), with paths under the code directory."""
    parent = posixpath.dirname(output.strip("/"))
    with tarfile.open(fileobj=io.BufferedReader(ChunkReader(chunks)), mode="r|") as tar:
        for member in tar:
            path = posixpath.normpath(posixpath.join(parent, member.name))
            if path.startswith("../") or path in ("..", ".") or path.startswith("/"):
                continue
            if member.isdir():
                continue
            if not member.isfile():
                kind = "a symbolic link" if member.issym() else "not a regular file"
                log(f"artifact: {path} left out ({kind})")
                continue
            if path in seen:
                continue
            seen.add(path)
            stream = tar.extractfile(member)
            if stream is None:
                continue
            yield SourceFile(path, member.size, member.mode & 0o777, stream)
