"""shared/repos.repo_path: the one rule for "which repository of this SCM is this URL"."""

from __future__ import annotations

import pytest

from shared.repos import repo_path


@pytest.mark.parametrize(
    ("server", "url", "repo"),
    [
        # GitHub: https, with or without .git, www., ssh in both spellings
        ("https://github.com", "https://github.com/caicloud/toy.git", "caicloud/toy"),
        ("https://github.com", "https://github.com/acme/widget", "acme/widget"),
        ("https://github.com", "https://www.github.com/caicloud/toy", "caicloud/toy"),
        ("https://www.github.com", "https://github.com/caicloud/toy", "caicloud/toy"),
        ("https://github.com", "git@github.com:caicloud/toy.git", "caicloud/toy"),
        ("https://github.com", "ssh://git@github.com/caicloud/toy.git", "caicloud/toy"),
        ("https://GitHub.com", "https://GITHUB.COM/Acme/Widget/", "Acme/Widget"),
        ("github.com", "https://github.com/o/r", "o/r"),  # a server without a scheme
        # GitLab: subgroups, a path prefix (http(s) URLs carry it, ssh ones do not)
        ("https://gitlab.example.com", "https://gitlab.example.com/g/sub/app.git", "g/sub/app"),
        ("https://gitlab.corp/gitlab", "https://gitlab.corp/gitlab/a/b/c.git", "a/b/c"),
        ("https://h.example.com/gitlab/", "https://h.example.com/gitlab/g/app", "g/app"),
        ("https://gitlab.corp/gitlab", "https://gitlab.corp/a/b.git", None),
        ("https://gitlab.corp/gitlab", "https://gitlab.corp/gitlabx/a/b.git", None),
        ("https://gitlab.corp/gitlab", "git@gitlab.corp:g/sub/app.git", "g/sub/app"),
        # ports: the same host on another port is the same SCM (https and ssh differ)
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/o/r.git", "o/r"),
        ("http://127.0.0.1:9", "http://127.0.0.1:8/g/sub/app.git", "g/sub/app"),
        ("https://gitlab.corp", "ssh://git@gitlab.corp:2222/g/app.git", "g/app"),
        # not a repository of the server: another host, no host, too short a path
        ("https://github.com", "https://gitlab.com/a/b", None),
        ("https://example.com", "https://github.com/lonely", None),
        ("http://127.0.0.1:9", "file:///srv/git/acme/widget.git", None),
        ("https://github.com", "https://github.com/justowner", None),
        ("https://github.com", "https://github.com/", None),
        ("", "https://github.com/o/r", None),
        ("https://github.com", "", None),
    ],
)
def test_repo_path(server: str, url: str, repo: str | None) -> None:
    assert repo_path(server, url) == repo
