"""What every command shares: the connection options, the output format, the API client.

The connection options and `-o` are accepted on the group and on every command
(`cyclone -o json projects ls` and `cyclone projects ls -o json` both work); the command's own
value wins.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from cli.api import Api
from cli.render import FORMATS, Output
from cli.settings import Connection, resolve


@dataclass
class Session:
    server: str | None = None
    token: str | None = None
    output: str = "table"
    debug: bool = False
    _api: Api | None = field(default=None, repr=False)

    def connection(self) -> Connection:
        return resolve(self.server, self.token)

    def api(self) -> Api:
        if self._api is None:
            from importlib.metadata import PackageNotFoundError, version

            try:
                agent = f"cyclone-cli/{version('cyclone')}"
            except PackageNotFoundError:
                agent = "cyclone-cli"
            self._api = Api(self.connection(), agent)
        return self._api

    def out(self) -> Output:
        return Output(self.output)


def shared_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--server, --token, --debug and -o on a command, folded into the Session."""

    @click.option("--server", metavar="URL", help="Cyclone's address [env CYCLONE_SERVER].")
    @click.option("--token", metavar="TOKEN", help="API token [env CYCLONE_TOKEN].")
    @click.option("--debug", is_flag=True, default=None, help="Show tracebacks.")
    @click.option("-o", "--output", type=click.Choice(FORMATS), default=None, help="Output format.")
    @click.pass_context
    @functools.wraps(func)
    def wrapper(
        ctx: click.Context,
        *args: Any,
        server: str | None,
        token: str | None,
        debug: bool | None,
        output: str | None,
        **kwargs: Any,
    ) -> Any:
        session = ctx.ensure_object(Session)
        session.server = server or session.server
        session.token = token or session.token
        session.debug = bool(debug) or session.debug
        session.output = output or session.output
        return ctx.invoke(func, session, *args, **kwargs)

    return wrapper


def load_definition(path: str) -> dict[str, Any]:
    """A JSON or YAML object from a file or '-' (stdin); YAML is a superset of JSON."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="-f") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise click.BadParameter(
            f"{path} is neither JSON nor YAML: {exc}", param_hint="-f"
        ) from exc
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path} must hold one object", param_hint="-f")
    # Round-trip through JSON: YAML dates and the like become what the API would read.
    return json.loads(json.dumps(data, default=str))
