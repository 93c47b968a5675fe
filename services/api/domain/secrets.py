"""Which fields are secrets, how they are sealed for storage and masked for answers.

Rules (docs/api.md): a secret is stored encrypted and answered as `******`; in an update a
secret that is left out or sent as `******` keeps its stored value; an empty string clears it.
A kept secret follows its endpoint: when the update changes the address it is sent to
(`endpoint_paths`), keeping it is refused (SecretRequired, 400) and the client must send it
again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from services.api.domain.errors import ValidationFailed
from shared.crypto import is_encrypted

MASK = "******"
Path = tuple[str | int, ...]

_CODE_BLOCKS = ("github", "gitlab", "svn", "otherCodeSource")
# A document whose secrets are sealed or masked: any JSON object (project, pipeline, cloud,
# integration); the paths name where its secrets are.
Doc = Mapping[str, object]
D = TypeVar("D", bound=Doc)
URL_RECEIVERS = ("webhook", "slack")  # notification receivers whose address is a credential


class SecretRequired(ValidationFailed):
    """A stored secret would be kept while the address it is sent to changes."""

    reason = "SecretRequired"


def _env_secret_paths(doc: Doc, base: Path) -> Iterator[Path]:
    env = _get(doc, base)
    for i, var in enumerate(env if isinstance(env, list) else []):
        if isinstance(var, dict) and var.get("secret"):
            yield (*base, i, "value")


def project_paths(doc: Doc) -> list[Path]:
    return [("scm", "password"), ("scm", "token"), ("registry", "password")]


def cloud_paths(doc: Doc) -> list[Path]:
    return [("kubernetes", "bearerToken"), ("kubernetes", "password")]


def integration_paths(doc: Doc) -> list[Path]:
    return [("sonarqube", "token")]


def _notification_paths(doc: Doc) -> Iterator[Path]:
    """Webhook and Slack receiver URLs: a Slack incoming-webhook URL is a credential in all but
    name, and a webhook URL often carries one (a token in the path or query)."""
    receivers = _get(doc, ("notification", "receivers"))
    for i, receiver in enumerate(receivers if isinstance(receivers, list) else []):
        if not isinstance(receiver, dict):
            continue
        if str(receiver.get("type") or "").lower() not in URL_RECEIVERS:
            continue
        addresses = receiver.get("addresses")
        for j in range(len(addresses) if isinstance(addresses, list) else 0):
            yield ("notification", "receivers", i, "addresses", j)


def pipeline_paths(doc: Doc) -> list[Path]:
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
    paths += _notification_paths(doc)
    return paths


def endpoint_paths(path: Path) -> list[Path]:
    """Where the secret at `path` is sent: the fields that name its receiver.

    The project's SCM token/password go to `scm.server`, the registry password to
    `registry.server`, a Kubernetes cloud's token/password to its API server (`host`, or the
    cluster's own with `inCluster`, trusted per `tlsClientConfig`), a SonarQube token to the
    integration's `address`, a code source's password to its `url`. (A notification URL is
    its own address: it is kept only where the same receiver has it, see `seal`.)
    """
    if path in (("scm", "password"), ("scm", "token")):
        return [("scm", "server")]
    if path == ("registry", "password"):
        return [("registry", "server")]
    if path in (("kubernetes", "bearerToken"), ("kubernetes", "password")):
        return [
            ("kubernetes", "host"),
            ("kubernetes", "inCluster"),
            ("kubernetes", "tlsClientConfig"),
        ]
    if path == ("sonarqube", "token"):
        return [("sonarqube", "address")]
    if len(path) >= 2 and path[-1] == "password" and path[-2] in _CODE_BLOCKS:
        return [(*path[:-1], "url")]
    return []


def _endpoint(value: Any) -> Any:
    """An endpoint field for comparison: URLs without a trailing slash, with the scheme and
    host in lower case; absent, empty and false alike."""
    if value in (None, "", False, {}, []):
        return None
    if not isinstance(value, str):
        return value
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme and parts.netloc:
        return urlunsplit(
            (parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, parts.fragment)
        )
    return text


def dotted(path: Path) -> str:
    """`notification.receivers[0].addresses[1]`: a path as error details name fields."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


PathsFn = Callable[[Doc], list[Path]]


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
    """The dict or list holding `path`'s last key, or None when there is no such slot."""
    parent = _get(doc, path[:-1])
    key = path[-1]
    if isinstance(parent, dict) and isinstance(key, str):
        return parent
    if isinstance(parent, list) and isinstance(key, int) and key < len(parent):
        return parent
    return None


def _value(parent: Any, key: str | int) -> Any:
    if isinstance(parent, list) and isinstance(key, int):
        return parent[key]
    return parent.get(key)


def _is_env_value(path: Path) -> bool:
    return len(path) >= 3 and path[-1] == "value" and isinstance(path[-2], int)


def _old_value(old: Doc | None, new: Doc, path: Path, old_paths: set[Path]) -> Any:
    """The stored value for `path`; env vars are matched by name, not position. Anything else
    only when the stored document has a secret at the same path (so an email address is never
    kept as a webhook URL)."""
    if old is None:
        return None
    if _is_env_value(path):
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
    return _get(old, path) if path in old_paths else None


def seal(
    new: D,
    old: Doc | None,
    paths: PathsFn,
    encrypt: Callable[[str], str],
    reseal: Callable[[str], str] | None = None,
) -> D:
    """Encrypt the secrets of `new` in place, keeping stored values where the client sent none.

    - A value sent in clear is encrypted; `""` clears the secret (a list item cannot be
      cleared that way: remove it from the list).
    - Left out or `******`: the stored value is kept, sealed again the current way when
      `reseal` is given (shared/crypto.SecretBox.reseal: the migration of values sealed the
      old way) and sealed at all when it was stored in clear (fields that became secrets).
      Nothing stored: the field is dropped (400 for a masked list item).
    - SecretRequired (400, nothing changed) when a kept secret's endpoint changed.
    """
    old_paths = set(paths(old)) if old is not None else set()
    plan: list[tuple[Any, str | int, Any]] = []  # (container, key, value or _DROP)
    moved: list[tuple[Path, list[Path]]] = []
    orphans: list[Path] = []
    for path in paths(new):
        parent = _parent(new, path)
        if parent is None:
            continue
        key = path[-1]
        value = _value(parent, key)
        if value is None or value == MASK:
            kept = _old_value(old, new, path, old_paths)
            if not kept or not isinstance(kept, str):
                if isinstance(parent, list):
                    orphans.append(path)
                else:
                    plan.append((parent, key, _DROP))
                continue
            changed = [
                ep
                for ep in endpoint_paths(path)
                if _endpoint(_get(new, ep)) != _endpoint(_get(old, ep))
            ]
            if changed:
                moved.append((path, changed))
                continue
            plan.append((parent, key, _renewed(kept, encrypt, reseal)))
        elif value == "":
            if isinstance(parent, dict):
                plan.append((parent, key, _DROP))
        elif isinstance(value, str) and not is_encrypted(value):
            plan.append((parent, key, encrypt(value)))
    _refuse(moved, orphans)
    for parent, key, value in plan:
        if value is _DROP:
            parent.pop(key, None)
        else:
            parent[key] = value
    return new


_DROP = object()


def _renewed(kept: str, encrypt: Callable[[str], str], reseal: Callable[[str], str] | None) -> str:
    if not is_encrypted(kept):
        return encrypt(kept)  # stored in clear before the field was a secret
    if reseal is None:
        return kept
    try:
        return reseal(kept)
    except ValueError:  # sealed with another key: kept as it is, the readers will say so
        return kept


def _refuse(moved: list[tuple[Path, list[Path]]], orphans: list[Path]) -> None:
    details = [
        {
            "field": dotted(path),
            "error": (
                f"{' / '.join(dotted(ep) for ep in endpoints)} changed: send this secret again "
                '(or "" to remove it); a stored secret is not sent to a new address while it '
                "is masked or left out"
            ),
        }
        for path, endpoints in moved
    ]
    details += [
        {
            "field": dotted(path),
            "error": f"{MASK} stands for a stored URL, but this receiver has none at this "
            "position: send the URL",
        }
        for path in orphans
    ]
    if not details:
        return
    if moved:
        path, endpoints = moved[0]
        message = (
            f"{dotted(endpoints[0])} changed but {dotted(path)} came back masked or left out: "
            f"send {dotted(path)} again with the new address"
        )
    else:
        message = f"{dotted(orphans[0])}: {details[0]['error']}"
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    raise SecretRequired(message + more, details)


def masked(doc: D, paths: PathsFn) -> D:
    """A copy-safe masking pass: every stored secret is answered as `******`."""
    for path in paths(doc):
        parent = _parent(doc, path)
        if parent is not None and _value(parent, path[-1]):
            parent[path[-1]] = MASK
    return doc
