"""Real git and svn repositories made in a temp dir, for runs to check out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.worker.repos import sh


@dataclass
class GitRepo:
    path: Path
    main_sha: str
    feature_sha: str
    tag_sha: str

    @property
    def url(self) -> str:
        return f"file://{self.path}"


def make_git_repo(root: Path) -> GitRepo:
    repo = root / "repo.git"
    work = root / "work"
    sh("git", "init", "-q", "--bare", "-b", "main", str(repo))
    sh("git", "init", "-q", "-b", "main", str(work))
    (work / "version.txt").write_text("v1\n")
    (work / "build.sh").write_text(
        "echo building $(cat version.txt)\nmkdir -p bin\ncat version.txt > bin/app\n"
    )
    sh("git", "add", ".", cwd=work)
    sh("git", "commit", "-q", "-m", "first version", cwd=work)
    tag_sha = sh("git", "rev-parse", "HEAD", cwd=work)
    sh("git", "tag", "v1.0", cwd=work)
    (work / "version.txt").write_text("v2\n")
    sh("git", "commit", "-q", "-am", "second version", cwd=work)
    main_sha = sh("git", "rev-parse", "HEAD", cwd=work)
    sh("git", "checkout", "-q", "-b", "feature", cwd=work)
    (work / "version.txt").write_text("feature\n")
    sh("git", "commit", "-q", "-am", "feature work", cwd=work)
    feature_sha = sh("git", "rev-parse", "HEAD", cwd=work)
    sh("git", "push", "-q", str(repo), "main", "feature", "v1.0", cwd=work)
    return GitRepo(repo, main_sha, feature_sha, tag_sha)


@dataclass
class SvnRepo:
    path: Path
    uuid: str

    @property
    def url(self) -> str:
        return f"file://{self.path}"


def make_svn_repo(root: Path) -> SvnRepo:
    repo = root / "svnrepo"
    sh("svnadmin", "create", str(repo))
    src = root / "svnsrc"
    (src / "trunk").mkdir(parents=True)
    (src / "trunk" / "version.txt").write_text("r1\n")
    sh("svn", "import", "-q", "-m", "first import", str(src), f"file://{repo}")
    wc = root / "svnwc"
    sh("svn", "checkout", "-q", f"file://{repo}/trunk", str(wc))
    (wc / "version.txt").write_text("r2\n")
    sh("svn", "commit", "-q", "-m", "second revision", str(wc))
    uuid = sh("svnlook", "uuid", str(repo))
    return SvnRepo(repo, uuid)
