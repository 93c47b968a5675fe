"""Which fields are secrets, how they are sealed for storage and masked for answers.

Rules (docs/api.md): a secret is stored encrypted and answered as `******`; in an update a
secret that is left out or sent as `******` keeps its stored value; an empty string clears it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from shared.crypto import is_encrypted

MASK = "******"
Path = tuple[str | int, ...]

_CODE_BLOCKS = ("github", "gitlab", "svn", "otherCodeSource")


def _env_secret_paths(doc: dict[str, Any], base: Path) -> Iterator[Path]:
    env = _get(doc, base)
    for i, var in enumerate(env if isinstance(env, list) else []):
        if isinstance(var, dict) and var.get("secret"):
            yield (*base, i, "value")


def project_paths(doc: dict[str, Any]) -> list[Path]:
    return [("scm", "password"), ("scm", "token"), ("registry", "password")]


def cloud_paths(doc: dict[str, Any]) -> list[Path]:
    return [("kubernetes", "bearerToken"), ("kubernetes", "password")]


def integration_paths(doc: dict[str, Any]) -> list[Path]:
    return [("sonarqube", "token")]


def pipeline_paths(doc: dict[str, Any]) -> list[Path]:
    checkout: Path = ("build", "stages", "codeCheckout")
    paths: list[Path] = [(*checkout, "mainRepo", block, "password") for block in _CODE_BLOCKS]
    deps = _get(doc, (*checkout, "depRepos"))
    for i in range(len(deps) if isinstance(deps, list) else 0):
        paths += [(*checkout, "depRepos", i, block, "password") for block in _CODE_BLOCKS]
    paths.append(("autoTrigger", "scmTrigger", "webhookSecret"))
    paths += _env_secret_paths(doc, ("build", "builderImage", "envVars"))
    paths += _env_secret_paths(doc, ("build", "stages", "integrationTest", "config", "envVars"))
    services = _get(doc, ("build", "stages", "integrationTest", "services"))
    for i in range(len(services) if isinstance(services, list) else 0):
        paths += _env_secret_paths(
            doc, ("build", "stages", "integrationTest", "services", i, "envVars")
        )
    return paths


PathsFn = Callable[[dict[str, Any]], list[Path]]


def _get(doc: Any, path: Path) -> Any:
    for key in path:
        if isinstance(key, int):
            if not isinstance(doc, list) or key >= len(doc):
                return None
        elif not isinstance(doc, dict):
            return None
        doc = doc[key] if isinstance(key, int) else doc.get(key)
    return doc


def _parent(doc: Any, path: Path) -> Any:
    parent = _get(doc, path[:-1])
    return parent if isinstance(parent, dict) else None


def _old_value(old: dict[str, Any] | None, new: dict[str, Any], path: Path) -> Any:
    """The stored value for `path`; env vars are matched by name, not position."""
    if old is None:
        return None
    if len(path) >= 3 and path[-1] == "value" and isinstance(path[-2], int):
        var = _get(new, path[:-1])
        old_env = _get(old, path[:-2])
        for old_var in old_env if isinstance(old_env, list) else []:
            if (
                isinstance(old_var, dict)
                and isinstance(var, dict)
                and old_var.get("name") == var.get("name")
                and old_var.get("secret")
            ):
                return old_var.get("value")
        return None
    return _get(old, path)


def seal(
    new: dict[str, Any],
    old: dict[str, Any] | None,
    paths: PathsFn,
    encrypt: Callable[[str], str],
) -> dict[str, Any]:
    """Encrypt the secrets of `new` in place, keeping stored values where the client sent none."""
    for path in paths(new):
        parent = _parent(new, path)
        if parent is None:
            continue
        key = path[-1]
        value = parent.get(key)
        if value is None or value == MASK:
            kept = _old_value(old, new, path)
            if is_encrypted(kept):
                parent[key] = kept
            else:
                parent.pop(key, None)
        elif value == "":
            parent.pop(key, None)
        elif not is_encrypted(value):
            parent[key] = encrypt(value)
    return new


def masked(doc: dict[str, Any], paths: PathsFn) -> dict[str, Any]:
    """A copy-safe masking pass: every stored secret is answered as `******`."""
    for path in paths(doc):
        parent = _parent(doc, path)
        if parent is not None and parent.get(path[-1]):
            parent[path[-1]] = MASK
    return doc


def has_secret(doc: dict[str, Any], path: Path) -> bool:
    return bool(_get(doc, path))
