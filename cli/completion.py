"""Shell completion: click's own scripts for bash and zsh, and names read from the API.

`cyclone completion bash` prints the script to source; a TAB after `pipelines ls ` offers the
project names, after `run app/` the pipelines of `app`. Completion must never print an error
into the user's prompt: any failure completes nothing.
"""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem, get_completion_class

from cli.api import Api
from cli.domain import CliError
from cli.settings import resolve

COMPLETE_VAR = "_CYCLONE_COMPLETE"


def _names(ctx: click.Context, path: str) -> list[str]:
    params: dict[str, Any] = {}
    node: click.Context | None = ctx
    while node is not None:  # the command's own --server/--token win over the group's
        params = {**node.params, **{k: v for k, v in params.items() if v}}
        node = node.parent
    api = Api(resolve(params.get("server"), params.get("token")), "cyclone-cli/complete")
    try:
        return [item.get("name", "") for item in api.get(path)["items"]]
    except (CliError, KeyError, TypeError):
        return []
    finally:
        api.close()


def complete_project(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return [CompletionItem(n) for n in _names(ctx, "/api/v1/projects") if n.startswith(incomplete)]


def complete_target(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    project, sep, _ = incomplete.partition("/")
    if not sep:
        return [
            CompletionItem(f"{p}/")
            for p in _names(ctx, "/api/v1/projects")
            if p.startswith(project)
        ]
    pipelines = _names(ctx, f"/api/v1/projects/{project}/pipelines")
    return [
        CompletionItem(f"{project}/{p}")
        for p in pipelines
        if f"{project}/{p}".startswith(incomplete)
    ]


def script(cli: click.Command, shell: str) -> str:
    """What `eval "$(cyclone completion bash)"` loads."""
    comp_cls = get_completion_class(shell)
    if comp_cls is None:
        raise click.BadParameter(f"no completion for {shell!r}", param_hint="SHELL")
    return comp_cls(cli, {}, "cyclone", COMPLETE_VAR).source()
