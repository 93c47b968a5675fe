"""SVN post-commit hooks: which pipelines a commit concerns.

The hook (the spec's script) posts `svnlook changed` output; a pipeline runs when one of the
changed paths lies under its main repository's path within the repository.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from shared.contracts.catalog import Pipeline, main_repo

# `svnlook changed` lines: up to three status columns, then the path ("U   trunk/a.txt",
# "A   trunk/dir/", "_U  trunk/b"). Anything else (warnings) is skipped.
CHANGED_RE = re.compile(r"^[ADU_][ U]?[ +]?\s+(\S.*)$")


def changed_paths(body: str) -> list[str]:
    paths = []
    for line in body.splitlines():
        found = CHANGED_RE.match(line.rstrip())
        if found:
            paths.append(found.group(1).rstrip("/"))
    return paths


def _path_of(url: str) -> str:
    return unquote(urlsplit(url).path).rstrip("/")


def repo_prefix(main_url: str, root_url: str) -> str | None:
    """The pipeline's path inside the repository ("" for the root), None if outside it."""
    main, root = _path_of(main_url), _path_of(root_url)
    if main != root and not main.startswith(root + "/"):
        return None
    return main[len(root) :].strip("/")


def concerns(paths: list[str], prefix: str) -> bool:
    if not prefix:
        return bool(paths)
    return any(p == prefix or p.startswith(prefix + "/") for p in paths)


def main_svn_url(pipeline: Pipeline) -> str | None:
    main = main_repo(pipeline)
    if main.get("type") != "SVN":
        return None
    return main.get("svn", {}).get("url")
