"""Clouds: where workers run, whether they answer, and what runs there now."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import click
from rich.text import Text

from cli import render
from cli.domain import EXIT_FAILED, age
from cli.session import Session, shared_options

CLOUDS = "/api/v1/clouds"


@click.group()
def clouds() -> None:
    """List clouds, ping one, list its workers."""


def _address(cloud: dict[str, Any]) -> str:
    if cloud.get("type") == "Docker":
        return (cloud.get("docker") or {}).get("host", "")
    if cloud.get("type") == "Kubernetes":
        kube = cloud.get("kubernetes") or {}
        where = "in-cluster" if kube.get("inCluster") else kube.get("host", "")
        return f"{where} ns={kube.get('namespace', '')}"
    return "this host"


@clouds.command("ls")
@shared_options
def clouds_ls(session: Session) -> None:
    """List the clouds."""
    session.out().emit(
        session.api().get(CLOUDS),
        lambda body: render.table(
            ["NAME", "TYPE", "ADDRESS"],
            ([c.get("name", ""), c.get("type", ""), _address(c)] for c in body["items"]),
        ),
    )


@clouds.command("ping")
@shared_options
@click.argument("name")
def clouds_ping(session: Session, name: str) -> int:
    """Check that a cloud answers; exits 1 when it does not."""
    body = session.api().get(f"{CLOUDS}/{quote(name)}/ping")
    ok = body.get("status") == "ok"
    detail = body.get("version") if ok else body.get("message")
    session.out().emit(
        body,
        lambda b: Text(f"{name}: {b.get('status')} ({detail or '-'})", style="" if ok else "red"),
    )
    return 0 if ok else EXIT_FAILED


@clouds.command("workers")
@shared_options
@click.argument("name")
@click.option("--namespace", help="Kubernetes namespace (default: the cloud's).")
def clouds_workers(session: Session, name: str, namespace: str | None) -> None:
    """List the workers running on a cloud."""
    now = datetime.now(UTC)
    body = session.api().get(f"{CLOUDS}/{quote(name)}/workers", namespace=namespace)
    session.out().emit(
        body,
        lambda b: render.table(
            ["NAME", "STATUS", "PIPELINE", "RECORD", "CREATED"],
            (
                [
                    w.get("name", ""),
                    render.status(w.get("status")),
                    f"{w.get('projectName', '')}/{w.get('pipelineName', '')}",
                    w.get("recordID", ""),
                    age(w.get("creationTime"), now),
                ]
                for w in b["items"]
            ),
        ),
    )
