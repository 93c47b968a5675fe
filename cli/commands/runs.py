"""Runs: start one, list and show records, read or follow a log, abort, stats."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Group
from rich.text import Text

from cli import render
from cli.api import Api, pipeline_path, records_path
from cli.commands.catalog import project_path
from cli.completion import complete_target
from cli.domain import (
    EXIT_INTERRUPTED,
    BadTarget,
    Target,
    age,
    day_range,
    duration,
    exit_code_for,
    parse_target,
    stats_rows,
)
from cli.follow import Follower
from cli.session import Session, shared_options
from cli.targets import TARGET


def _now() -> datetime:
    return datetime.now(UTC)


def write_line(line: str) -> None:
    """A log line to stdout as it came (bytes, so a pipe gets UTF-8 whatever the locale)."""
    sys.stdout.buffer.write(line.encode("utf-8", "replace") + b"\n")
    sys.stdout.buffer.flush()


def follow_record(
    api: Api, target: Target, record: str, *, stage: str | None = None, task: str | None = None
) -> int:
    """Stream the log to stdout until the record ends; the exit code of its status.

    Ctrl-C stops following only: the run goes on, and the message says how to stop it.
    """
    follower = Follower(api, target, record, write_line, stage=stage, task=task)
    err = render.console(sys.stderr)
    spinner = None
    if err.is_terminal and render.wants_colour(sys.stderr) and render.wants_colour(sys.stdout):
        spinner = err.status(f"record {record}: waiting for its first log line")
        spinner.start()
        follower.on_first_line = spinner.stop
    try:
        status = follower.run()
    except KeyboardInterrupt:
        click.echo(
            f"\nstopped following record {record}; it goes on running "
            f"(stop it with: cyclone abort {target} {record})",
            err=True,
        )
        return EXIT_INTERRUPTED
    finally:
        if spinner:
            spinner.stop()
    click.echo(f"record {record} ended: {status}", err=True)
    return exit_code_for(status)


follow_option = click.option(
    "--follow", "-f", "follow_it", is_flag=True, help="Stream the log; exit with the run's result."
)


@click.command("run")
@shared_options
@click.argument("target", type=TARGET, shell_complete=complete_target)
@click.option("--ref", default="HEAD", show_default=True, help="Branch, tag, commit or SVN path.")
@click.option("--stage", "stages", multiple=True, help="Run only this stage (repeatable).")
@click.option("--name", help="The record's name (default: commit and time).")
@follow_option
def run(
    session: Session,
    target: Target,
    ref: str,
    stages: tuple[str, ...],
    name: str | None,
    follow_it: bool,
) -> int:
    """Start a run of PROJECT/PIPELINE and print its record id.

    With --follow, stream its log, then exit 0 for Success, 1 Failed, 2 Aborted
    (3: Cyclone unreachable or failing; 4: the API refused the request).
    """
    body: dict[str, Any] = {"ref": ref}
    if stages:
        body["stages"] = list(stages)
    if name:
        body["name"] = name
    api = session.api()
    record = api.call("POST", records_path(target), json=body)
    if session.output == "table":
        click.echo(record["id"])
    else:
        session.out().emit(record, lambda _: None)
    return follow_record(api, target, record["id"]) if follow_it else 0


@click.group()
def records() -> None:
    """List and show a pipeline's records (its runs)."""


@records.command("ls")
@shared_options
@click.argument("target", type=TARGET, shell_complete=complete_target)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def records_ls(session: Session, target: Target, limit: int) -> None:
    """List the newest records of PROJECT/PIPELINE."""
    now = _now()

    def row(r: dict[str, Any]) -> list[Any]:
        checkout = (r.get("stageStatus") or {}).get("codeCheckout") or {}
        commit = ((checkout.get("commits") or {}).get("mainRepo")) or {}
        return [
            r.get("id", ""),
            r.get("name") or "-",
            render.status(r.get("status")),
            r.get("trigger") or "-",
            (r.get("performParams") or {}).get("ref") or "-",
            (commit.get("ID") or "-")[:7],
            age(r.get("startTime"), now),
            duration(r.get("startTime"), r.get("endTime"), now),
        ]

    body = session.api().get(records_path(target), limit=limit)
    session.out().emit(
        body,
        lambda b: render.table(
            ["ID", "NAME", "STATUS", "TRIGGER", "REF", "COMMIT", "STARTED", "DURATION"],
            (row(r) for r in b["items"]),
        ),
    )


@records.command("get")
@shared_options
@click.argument("target", type=TARGET, shell_complete=complete_target)
@click.argument("record")
def records_get(session: Session, target: Target, record: str) -> None:
    """Show one record with its stages."""
    now = _now()

    def people(r: dict[str, Any]) -> render.RenderableType:
        stages = r.get("stageStatus") or {}
        commit = (((stages.get("codeCheckout") or {}).get("commits") or {}).get("mainRepo")) or {}
        subject = (commit.get("Message") or "").splitlines()[:1]
        summary = render.fields(
            [
                ("record", f"{r.get('id', '')} ({r.get('name') or '-'})"),
                ("pipeline", str(target)),
                ("status", render.status(r.get("status"))),
                ("trigger", r.get("trigger") or "-"),
                ("ref", (r.get("performParams") or {}).get("ref") or "-"),
                ("commit", " ".join([commit.get("ID", "-")[:12], *subject])),
                ("started", f"{r.get('startTime', '-')} ({age(r.get('startTime'), now)})"),
                ("duration", duration(r.get("startTime"), r.get("endTime"), now)),
                *([("error", r["errorMessage"])] if r.get("errorMessage") else []),
            ]
        )
        table = render.table(
            ["STAGE", "STATUS", "DURATION", "DETAIL"],
            (
                [
                    stage,
                    render.status(s.get("status")),
                    duration(s.get("startTime"), s.get("endTime"), now),
                    s.get("error") or s.get("skipReason") or "",
                ]
                for stage, s in stages.items()
            ),
        )
        return Group(summary, Text(""), table)

    session.out().emit(session.api().get(records_path(target, record)), people)


@click.command("logs")
@shared_options
@click.argument("target", type=TARGET, shell_complete=complete_target)
@click.argument("record")
@click.option("--stage", help="Only this stage's log.")
@click.option("--task", help="Only this task of the stage (image stages).")
@follow_option
def logs(
    session: Session,
    target: Target,
    record: str,
    stage: str | None,
    task: str | None,
    follow_it: bool,
) -> int:
    """Print a record's log; with --follow, stream it until the record ends and exit with its
    result (0 Success, 1 Failed, 2 Aborted)."""
    api = session.api()
    if follow_it:
        return follow_record(api, target, record, stage=stage, task=task)
    for chunk in api.stream(records_path(target, record) + "/logs", stage=stage, task=task):
        sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
    return 0


@click.command("abort")
@shared_options
@click.argument("target", type=TARGET, shell_complete=complete_target)
@click.argument("record")
def abort(session: Session, target: Target, record: str) -> None:
    """Abort a Pending or Running record."""
    body = session.api().call(
        "PATCH", records_path(target, record) + "/status", json={"status": "Aborted"}
    )
    session.out().emit(body, lambda r: Text(f"record {record}: {r.get('status')}"))


@click.command("stats")
@shared_options
@click.argument("scope")
@click.option("--days", type=click.IntRange(1, 366), default=14, show_default=True)
def stats(session: Session, scope: str, days: int) -> None:
    """Runs per day of a PROJECT or PROJECT/PIPELINE: success, failed, aborted."""
    try:
        path = pipeline_path(parse_target(scope)) if "/" in scope else project_path(scope)
    except BadTarget as exc:
        raise click.BadParameter(str(exc), param_hint="SCOPE") from exc
    start, end = day_range(days, _now())
    body = session.api().get(path + "/stats", startTime=start, endTime=end)

    def people(b: dict[str, Any]) -> render.RenderableType:
        o = b.get("overview") or {}
        head = Text(
            f"{scope}, last {days} days: {o.get('total', 0)} total, {o.get('success', 0)} success, "
            f"{o.get('failed', 0)} failed, {o.get('aborted', 0)} aborted "
            f"({o.get('successRatio', '-')} success)"
        )
        rows = [
            [
                r.day,
                r.success,
                r.failed,
                r.aborted,
                Text.assemble(
                    (r.bar.replace("x", "").replace("-", ""), "green"),
                    (r.bar.replace("#", "").replace("-", ""), "red"),
                    (r.bar.replace("#", "").replace("x", ""), "yellow"),
                ),
            ]
            for r in stats_rows(b.get("details") or [])
        ]
        return Group(head, Text(""), render.table(["DAY", "OK", "FAILED", "ABORTED", ""], rows))

    session.out().emit(body, people)
