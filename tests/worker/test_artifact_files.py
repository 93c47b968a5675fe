"""The worker's side of artifacts on a real filesystem: which files of the outputs are sent
(links never followed), the tar stream of a container's archive, and restoring safely."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from services.worker.artifacts import ArtifactError, host_files, open_for_write, tar_files


def collect(files) -> dict[str, tuple[bytes, int]]:
    return {f.path: (f.stream.read(), f.mode) for f in files}


def test_host_files_walk_folders_and_leave_links_out(tmp_path: Path):
    code = tmp_path / "code"
    (code / "dist" / "sub").mkdir(parents=True)
    (code / "bin").mkdir()
    (code / "bin" / "app").write_bytes(b"app")
    (code / "bin" / "app").chmod(0o755)
    (code / "dist" / "sub" / "b").write_bytes(b"b")
    (code / "dist" / "a").write_bytes(b"a")
    (code / "dist" / "a").chmod(0o640)
    (code / "dist" / "sub" / "b").chmod(0o644)
    secret = tmp_path / "secret"
    secret.write_text("outside")
    (code / "dist" / "leak").symlink_to(secret)
    (code / "linked").symlink_to(tmp_path)  # a folder link: never entered
    said: list[str] = []
    got = collect(host_files(code, ["bin/app", "dist", "bin/app"], said.append))
    assert got == {
        "bin/app": (b"app", 0o755),
        "dist/a": (b"a", 0o640),
        "dist/sub/b": (b"b", 0o644),
    }
    assert "artifact: dist/leak left out (a symbolic link)" in said


def test_host_files_refuse_a_path_through_a_link(tmp_path: Path):
    code = tmp_path / "code"
    code.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f").write_text("x")
    (code / "dir").symlink_to(tmp_path / "outside")
    with pytest.raises(ArtifactError):
        list(host_files(code, ["dir/f"], print))


def test_tar_files_from_an_archive_stream():
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (("dist/a", b"aaa"), ("dist/sub/b", b"b" * 70000)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o750
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("dist/l")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    data = raw.getvalue()
    chunks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    said: list[str] = []
    got = collect(tar_files("out/dist", chunks, set(), said.append))
    assert got == {"out/dist/a": (b"aaa", 0o750), "out/dist/sub/b": (b"b" * 70000, 0o750)}
    assert said == ["artifact: out/dist/l left out (a symbolic link)"]


def test_restore_makes_folders_sets_the_mode_and_never_writes_through_a_link(tmp_path: Path):
    code = tmp_path / "code"
    code.mkdir()
    fd = open_for_write(code, "bin/deep/app", 0o755)
    with os.fdopen(fd, "wb") as out:
        out.write(b"x")
    assert (code / "bin" / "deep" / "app").read_bytes() == b"x"
    assert (code / "bin" / "deep" / "app").stat().st_mode & 0o777 == 0o755
    (tmp_path / "elsewhere").mkdir()
    (code / "evil").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ArtifactError, match="evil/app"):
        open_for_write(code, "evil/app", 0o644)
    (code / "target").symlink_to(tmp_path / "elsewhere" / "t")
    with pytest.raises(ArtifactError):
        open_for_write(code, "target", 0o644)
    assert list((tmp_path / "elsewhere").iterdir()) == []
    with pytest.raises(ArtifactError):
        open_for_write(code, "../x", 0o644)
