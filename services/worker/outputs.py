"""A stage's `outputs`: the one matcher of its patterns, and its one error.

Every executor answers `outputs(patterns)` with `match_outputs`, whether the checkout is on
the worker's own disk (Local, and the pod's shared workspace on Kubernetes: globbed there) or
only seen as a listing of paths (a Docker builder container's). Either way the patterns are
checked first (relative, inside the code), each must match something, and the paths come in
pattern order without duplicates; `OutputError` says what is wrong, as the stage's error.

The glob rules are the host's (`glob.glob`, recursive): `*`, `?`, `[...]` inside one segment
(not matching a leading dot), `**` for any number of segments. On the host a match must lie
inside the code once links are resolved; a listing is matched by the same rules, segment by
segment (`_match`).
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from services.worker import domain


class OutputError(LookupError):
    """A stage's outputs cannot be collected: `pattern` is not allowed, or matches nothing.
    The message is the stage's error."""

    def __init__(self, pattern: str, message: str) -> None:
        super().__init__(message)
        self.pattern = pattern


def match_outputs(where: Path | Sequence[str], patterns: Sequence[str]) -> list[str]:
    """The paths (relative, `/`-separated) matched by each pattern, in pattern order, without
    duplicates. `where`: the code directory on this host, or a listing of the code's paths.
    Raises OutputError for the first pattern not allowed, else the first matching nothing."""
    check_outputs(patterns)
    find = _on_host(where) if isinstance(where, Path) else _in_listing(where)
    found: list[str] = []
    for pattern in patterns:
        hits = find(pattern)
        if not hits:
            raise OutputError(pattern, f'output "{pattern}" not found')
        found += [h for h in hits if h not in found]
    return found


def check_outputs(patterns: Sequence[str]) -> None:
    """OutputError for the first pattern that is not allowed (absolute, or leaving the code):
    before anything is listed."""
    for pattern in patterns:
        problem = domain.output_problem(pattern)
        if problem:
            raise OutputError(pattern, problem)


def _on_host(root: Path) -> Callable[[str], list[str]]:
    real_root = os.path.realpath(root)

    def find(pattern: str) -> list[str]:
        return [
            os.path.normpath(m)
            for m in sorted(glob.glob(pattern, root_dir=root, recursive=True))
            if _inside(real_root, os.path.realpath(root / m))
        ]

    return find


def _in_listing(paths: Sequence[str]) -> Callable[[str], list[str]]:
    def find(pattern: str) -> list[str]:
        parts = [p for p in pattern.strip().split("/") if p not in ("", ".")]
        return sorted(p for p in paths if _match(parts, [s for s in p.split("/") if s]))

    return find


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _match(pattern: list[str], path: list[str]) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match(rest, path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    segment = path[0]
    if segment.startswith(".") and not head.startswith("."):
        return False
    return fnmatch.fnmatchcase(segment, head) and _match(rest, path[1:])
