"""Projects, pipelines and config templates: what a team defines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import click
from rich.console import Group
from rich.text import Text

from cli import render
from cli.api import Refused, pipeline_path
from cli.completion import complete_project, complete_target
from cli.domain import Target, age, diff, duration
from cli.session import Session, load_definition, shared_options
from cli.targets import TARGET

PROJECTS = "/api/v1/projects"


def project_path(name: str) -> str:
    return f"{PROJECTS}/{quote(name)}"


def _now() -> datetime:
    return datetime.now(UTC)


# --- projects ---------------------------------------------------------------------------------


@click.group()
def projects() -> None:
    """List, show, create and delete projects."""


@projects.command("ls")
@shared_options
def projects_ls(session: Session) -> None:
    """List every project."""
    now = _now()
    session.out().emit(
        session.api().get(PROJECTS),
        lambda body: render.table(
            ["NAME", "SCM", "SERVER", "CLOUD", "OWNER", "CREATED"],
            (
                [
                    p.get("name", ""),
                    (p.get("scm") or {}).get("type", ""),
                    (p.get("scm") or {}).get("server", ""),
                    _cloud(p),
                    p.get("owner") or "-",
                    age(p.get("creationTime"), now),
                ]
                for p in body["items"]
            ),
        ),
    )


def _cloud(project: dict[str, Any]) -> str:
    location = ((project.get("worker") or {}).get("location")) or {}
    return location.get("cloudName") or "local"


@projects.command("get")
@shared_options
@click.argument("name", shell_complete=complete_project)
def projects_get(session: Session, name: str) -> None:
    """Show one project."""
    now = _now()

    def people(p: dict[str, Any]) -> render.RenderableType:
        scm = p.get("scm") or {}
        registry = p.get("registry") or {}
        return render.fields(
            [
                ("name", p.get("name", "")),
                ("description", p.get("description") or "-"),
                ("owner", p.get("owner") or "-"),
                ("scm", f"{scm.get('type', '')} {scm.get('server', '')}".strip()),
                ("scm user", scm.get("username") or "-"),
                (
                    "registry",
                    "/".join(filter(None, [registry.get("server"), registry.get("repository")]))
                    or "-",
                ),
                ("cloud", _cloud(p)),
                ("created", f"{p.get('creationTime', '-')} ({age(p.get('creationTime'), now)})"),
                ("updated", p.get("lastUpdateTime") or "-"),
            ]
        )

    session.out().emit(session.api().get(project_path(name)), people)


@projects.command("create")
@shared_options
@click.option("-f", "--file", "path", required=True, help="JSON or YAML definition ('-': stdin).")
def projects_create(session: Session, path: str) -> None:
    """Create a project from a definition file."""
    created = session.api().call("POST", PROJECTS, json=load_definition(path))
    session.out().emit(created, lambda p: Text(f"created project {p.get('name')}"))


@projects.command("delete")
@shared_options
@click.argument("name", shell_complete=complete_project)
def projects_delete(session: Session, name: str) -> None:
    """Delete a project with its pipelines, records and logs."""
    session.api().call("DELETE", project_path(name))
    click.echo(f"deleted project {name}")


# --- pipelines --------------------------------------------------------------------------------


@click.group()
def pipelines() -> None:
    """List, show, apply and delete pipelines."""


@pipelines.command("ls")
@shared_options
@click.argument("project", shell_complete=complete_project)
def pipelines_ls(session: Session, project: str) -> None:
    """List a project's pipelines with their last run."""
    now = _now()

    def row(p: dict[str, Any]) -> list[Any]:
        last = (p.get("recentRecords") or [{}])[0]
        return [
            p.get("name", ""),
            render.status(last.get("status")),
            (last.get("performParams") or {}).get("ref") or "-",
            duration(last.get("startTime"), last.get("endTime"), now) if last else "-",
            age(last.get("startTime"), now) if last else "-",
            p.get("description") or "",
        ]

    body = session.api().get(f"{project_path(project)}/pipelines", recentCount=1)
    session.out().emit(
        body,
        lambda b: render.table(
            ["NAME", "LAST RUN", "REF", "DURATION", "STARTED", "DESCRIPTION"],
            (row(p) for p in b["items"]),
        ),
    )


@pipelines.command("get")
@shared_options
@click.argument("target", type=TARGET, shell_complete=complete_target)
def pipelines_get(session: Session, target: Target) -> None:
    """Show one pipeline and its definition."""

    def people(p: dict[str, Any]) -> render.RenderableType:
        summary = render.fields(
            [
                ("pipeline", str(target)),
                ("description", p.get("description") or "-"),
                ("owner", p.get("owner") or "-"),
                ("created", p.get("creationTime") or "-"),
                ("updated", p.get("lastUpdateTime") or "-"),
            ]
        )
        definition = {k: p[k] for k in ("build", "autoTrigger", "notification") if k in p}
        return Group(summary, Text(""), Text(render.as_yaml(definition)))

    session.out().emit(session.api().get(pipeline_path(target)), people)


@pipelines.command("apply")
@shared_options
@click.argument("project", shell_complete=complete_project)
@click.option("-f", "--file", "path", required=True, help="JSON or YAML definition ('-': stdin).")
def pipelines_apply(session: Session, project: str, path: str) -> None:
    """Create the pipeline a file defines, or update it to match; prints what changed."""
    wanted = load_definition(path)
    name = wanted.get("name")
    if not isinstance(name, str) or not name:
        raise click.BadParameter("the definition has no 'name'", param_hint="-f")
    api = session.api()
    target = Target(project, name)
    try:
        stored = api.get(pipeline_path(target))
    except Refused as exc:
        if exc.status != 404 or exc.reason != "NotFound":
            raise
        created = api.call("POST", f"{project_path(project)}/pipelines", json=wanted)
        session.out().emit(created, lambda _: Text(f"created pipeline {target}"))
        return
    changes = diff(stored, wanted)
    if not changes:
        session.out().emit(stored, lambda _: Text(f"pipeline {target} unchanged"))
        return
    updated = api.call("PUT", pipeline_path(target), json=wanted)
    lines = [f"updated pipeline {target}:"] + [f"  {c.describe()}" for c in changes]
    session.out().emit(updated, lambda _: Text("\n".join(lines)))


@pipelines.command("delete")
@shared_options
@click.argument("target", type=TARGET, shell_complete=complete_target)
def pipelines_delete(session: Session, target: Target) -> None:
    """Delete a pipeline with its records and logs."""
    session.api().call("DELETE", pipeline_path(target))
    click.echo(f"deleted pipeline {target}")


# --- templates --------------------------------------------------------------------------------


@click.group()
def templates() -> None:
    """The config templates a new pipeline can start from."""


TEMPLATES = "/api/v1/configtemplates"


@templates.command("ls")
@shared_options
def templates_ls(session: Session) -> None:
    """List the config templates."""
    session.out().emit(
        session.api().get(TEMPLATES),
        lambda body: render.table(
            ["NAME", "TYPE", "BUILDER IMAGE"],
            (
                [t.get("name", ""), t.get("type", ""), t.get("builderImage", "")]
                for t in body["items"]
            ),
        ),
    )


@templates.command("get")
@shared_options
@click.argument("name")
def templates_get(session: Session, name: str) -> None:
    """Show one config template (the API lists them; there is no single-template path)."""
    items = session.api().get(TEMPLATES)["items"]
    found = next((t for t in items if t.get("name") == name), None)
    if found is None:
        known = ", ".join(sorted(t.get("name", "") for t in items))
        raise Refused(404, f"no config template named {name!r} (known: {known})", "NotFound", None)
    session.out().emit(found, lambda t: Text(render.as_yaml(t)))
