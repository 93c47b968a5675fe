"""Which repository of an SCM server a clone URL names: one rule for every service.

The gateway registers a pipeline's webhook on that repository (services/api/domain/
webhooks.py); the scm service sets commit statuses and tags on it (services/scm/domain/
notify.py). Both ask `repo_path`, so a URL the gateway hooks is the repository the scm
service reports to.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

# Names of one host: GitHub answers on both.
_SAME_HOST: Final = {"www.github.com": "github.com"}


def _with_scheme(url: str) -> str:
    return url if "://" in url else f"https://{url}"


def _host(url: str) -> str:
    host = (urlsplit(_with_scheme(url)).hostname or "").lower()
    return _SAME_HOST.get(host, host)


def _scp_to_ssh(url: str) -> str:
    """`git@host:group/name.git` (scp-like ssh) as `ssh://git@host/group/name.git`."""
    if "://" not in url and ":" in url and "@" in url.split(":", 1)[0]:
        user_host, path = url.split(":", 1)
        return f"ssh://{user_host}/{path}"
    return url


def repo_path(server: str, url: str) -> str | None:
    """The path of clone URL `url` on the SCM at `server`, None when it is not one of its
    repositories.

    `("https://github.com", "https://github.com/caicloud/toy.git")` -> `"caicloud/toy"`.

    - Hosts are compared without case and without port (an SCM serves https and ssh on
      different ports); `github.com` and `www.github.com` are one host; a `server` without
      a scheme is read as https.
    - `git@host:group/name.git` (scp-like ssh) is understood.
    - A server under a path prefix (a GitLab at `https://host/gitlab`): an http(s) URL must
      lie under the prefix and loses it (`https://host/gitlab/g/sub/app` -> `g/sub/app`); an
      ssh URL never carries it.
    - `.git` and the slashes at either end are dropped; GitLab subgroups are kept
      (`group/sub/name`); a path of fewer than two segments is None.
    - URLs without a host (`file:///srv/git/o/n.git`) and other hosts are None.
    """
    url = _scp_to_ssh(url)
    parts = urlsplit(url)
    if not parts.hostname or _host(url) != _host(server):
        return None
    prefix = urlsplit(_with_scheme(server)).path.strip("/")
    path = parts.path.strip("/")
    if prefix and parts.scheme in ("http", "https"):
        if not path.startswith(prefix + "/"):
            return None
        path = path[len(prefix) + 1 :]
    path = path.removesuffix(".git").strip("/")
    return path if path.count("/") >= 1 else None


def reported_repo(server: str, url: str) -> str | None:
    """The repository commit statuses and tags go to: `repo_path`, or, for a clone URL on no
    host or another host (a mirror, a local clone of the SCM's repository), the URL's last
    two path segments, which name it on the SCM as `owner/name`. None when even those are
    missing."""
    found = repo_path(server, url)
    if found is not None:
        return found
    segments = [s for s in urlsplit(_scp_to_ssh(url)).path.split("/") if s]
    if len(segments) < 2:
        return None
    return "/".join([*segments[-2:-1], segments[-1].removesuffix(".git")])
