"""Subversion through the `svn` command line (Debian's subversion package)."""

from __future__ import annotations

import subprocess

from eventlet import tpool

from shared.contracts.errors import InvalidRequest
from shared.contracts.rpc import SvnRepoInfo

TIMEOUT = 30


def _svn_info(url: str, item: str, username: str, password: str) -> str:
    args = ["svn", "info", "--non-interactive", "--show-item", item]
    if username:
        args += ["--username", username, "--no-auth-cache"]
        if password:
            args += ["--password-from-stdin"]
    args.append(url)
    try:
        done = subprocess.run(
            args,
            input=password if username and password else "",
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
        )
    except subprocess.TimeoutExpired as exc:
        raise InvalidRequest(f"svn repository {url} did not answer in {TIMEOUT}s") from exc
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise InvalidRequest(f"cannot read svn repository {url}: {why}")
    return done.stdout.strip()


def repo_info(url: str, username: str, password: str) -> SvnRepoInfo:
    """The UUID and root URL of the repository holding `url` (credentials never in argv)."""

    def both() -> SvnRepoInfo:
        return {
            "id": _svn_info(url, "repos-uuid", username, password),
            "rootURL": _svn_info(url, "repos-root-url", username, password),
        }

    return tpool.execute(both)  # a blocking child process; keep the service's hub free
