"""Real git and svn repositories built in a temp dir, for checkouts and runs to read over
file:// URLs (the session's `git_repo` and `svn_repo` fixtures, tests/conftest.py, are these).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Tester",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_AUTHOR_DATE": "2024-03-01T10:20:30+02:00",
    "GIT_COMMITTER_NAME": "Ada Tester",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "HOME": "/tmp",
    "PATH": "/usr/bin:/bin",
}

# What the package stage of a run on `git_repo` runs: `sh build.sh`.
BUILD_SH = "echo building $(cat version.txt)\nmkdir -p bin\ncat version.txt > bin/app\n"


def sh(*args: str, cwd: Path | None = None) -> str:
    """Run a git/svn command with a fixed author and date; its stdout."""
    return subprocess.run(
        args, cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class GitRepo:
    path: Path
    first_sha: str  # tagged v1.0 (annotated) and light (lightweight); version.txt = v1
    main_sha: str  # head of main; version.txt = v2
    feature_sha: str  # head of feature; version.txt = feature
    pull_sha: str  # only under refs/pull/1/merge; version.txt = pull
    orphan_tag_sha: str  # only under the tag lonely; version.txt = lonely

    @property
    def url(self) -> str:
        return f"file://{self.path}"


def make_git_repo(root: Path) -> GitRepo:
    """`root`/repo.git, bare, whose default branch is `main` (there is no `master`); every
    commit has version.txt and build.sh (which copies version.txt to bin/app)."""
    repo, work = root / "repo.git", root / "work"
    sh("git", "init", "-q", "--bare", "-b", "main", str(repo))
    sh("git", "init", "-q", "-b", "main", str(work))
    (work / "build.sh").write_text(BUILD_SH)

    def commit(version: str, message: str) -> str:
        (work / "version.txt").write_text(f"{version}\n")
        sh("git", "add", ".", cwd=work)
        sh("git", "commit", "-q", "-m", message, cwd=work)
        return sh("git", "rev-parse", "HEAD", cwd=work)

    first = commit("v1", "first version")
    sh("git", "tag", "-a", "v1.0", "-m", "release 1.0", cwd=work)
    sh("git", "tag", "light", cwd=work)
    main = commit("v2", "second version\n\nwith a body")
    sh("git", "checkout", "-q", "-b", "feature", cwd=work)
    feature = commit("feature", "feature work")
    sh("git", "checkout", "-q", "--detach", "main", cwd=work)
    pull = commit("pull", "pull request merge")
    sh("git", "checkout", "-q", "--detach", "main", cwd=work)
    lonely = commit("lonely", "only a tag reaches this")
    sh("git", "tag", "lonely", cwd=work)
    sh("git", "push", "-q", str(repo), "main", "feature", "v1.0", "light", "lonely", cwd=work)
    sh("git", "push", "-q", str(repo), f"{pull}:refs/pull/1/merge", cwd=work)
    return GitRepo(repo, first, main, feature, pull, lonely)


@dataclass
class SvnRepo:
    path: Path
    uuid: str

    @property
    def url(self) -> str:
        return f"file://{self.path}"


def make_svn_repo(root: Path, *, branch: bool = False) -> SvnRepo:
    """`root`/svnrepo. r1: trunk/version.txt = r1 (by ada); r2: version.txt = r2 (by bob, a
    message of two lines); with `branch`, r3: branches/b1 copied from trunk (by ada)."""
    repo = root / "svnrepo"
    sh("svnadmin", "create", str(repo))
    url = f"file://{repo}"
    src = root / "svnsrc"
    (src / "trunk").mkdir(parents=True)
    (src / "trunk" / "version.txt").write_text("r1\n")
    sh("svn", "import", "-q", "--username", "ada", "-m", "initial import", str(src), url)
    wc = root / "svnwc"
    sh("svn", "checkout", "-q", f"{url}/trunk", str(wc))
    (wc / "version.txt").write_text("r2\n")
    sh("svn", "commit", "-q", "--username", "bob", "-m", "second revision\nwith two lines", str(wc))
    if branch:
        copy = ("svn", "copy", "-q", "--parents", "--username", "ada", "-m", "branch b1")
        sh(*copy, f"{url}/trunk", f"{url}/branches/b1")
    return SvnRepo(repo, sh("svnlook", "uuid", str(repo)))
