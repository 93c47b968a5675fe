"""Where the CLI finds its server and token: flags, then the environment, then the file.

The file holds a credential: it is written 0600 in a 0700 folder, through a temporary file
renamed over the old one, so a reader never sees it half written or world-readable.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from cli.domain import EXIT_USAGE, CliError

DEFAULT_SERVER = "http://127.0.0.1:7099"


class BadConfig(CliError):
    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Connection:
    server: str
    token: str
    source: str  # where the token came from, for error messages ("--token", "CYCLONE_TOKEN"...)


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "cyclone" / "config.toml"


def read_file(path: Path) -> dict[str, str]:
    """The stored values; a missing file is an empty one, a broken one an error that names it."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise BadConfig(f"{path} is not valid TOML: {exc}") from exc
    return {k: str(v) for k, v in data.items() if k in ("server", "token")}


def write_file(path: Path, server: str, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            tomli_w.dump({"server": server, "token": token}, out)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resolve(
    flag_server: str | None,
    flag_token: str | None,
    env: Mapping[str, str] = os.environ,
    stored: Mapping[str, str] | None = None,
) -> Connection:
    """Each value separately: `--server` with a token from the file is a normal use."""
    stored = read_file(config_path(env)) if stored is None else stored
    server = flag_server or env.get("CYCLONE_SERVER") or stored.get("server") or DEFAULT_SERVER
    for value, source in (
        (flag_token, "--token"),
        (env.get("CYCLONE_TOKEN"), "CYCLONE_TOKEN"),
        (stored.get("token"), str(config_path(env))),
    ):
        if value:
            return Connection(server.rstrip("/"), value, source)
    return Connection(server.rstrip("/"), "", "")
