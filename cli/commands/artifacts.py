"""What a run kept (its artifacts), and running a record again."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from cli import render
from cli.api import Api, records_path
from cli.commands.runs import follow_option, follow_record
from cli.completion import complete_target
from cli.domain import CliError, Target, age, size
from cli.session import Session, shared_options
from cli.targets import TARGET


@click.group()
def artifacts() -> None:
    """List and download the files a record kept."""


@artifacts.command("ls")
@shared_options
@click.argument("target", type=TARGET, shell_complete=complete_target)
@click.argument("record")
def artifacts_ls(session: Session, target: Target, record: str) -> None:
    """List a record's artifacts."""
    now = datetime.now(UTC)
    body = session.api().get(records_path(target, record) + "/artifacts")
    session.out().emit(
        body,
        lambda b: render.table(
            ["PATH", "SIZE", "SHA256", "STAGE", "KEPT"],
            (
                [
                    a.get("path", ""),
                    size(int(a.get("size") or 0)),
                    (a.get("sha256") or "")[:12],
                    a.get("stage", ""),
                    age(a.get("creationTime"), now),
                ]
                for a in b["items"]
            ),
        ),
    )


to_option = click.option(
    "--to", "dest", metavar="FILE", help="Where to write it ('-': stdout; default: a file here)."
)


@artifacts.command("get")
@shared_options
@click.argument("target", type=TARGET, shell_complete=complete_target)
@click.argument("record")
@click.argument("path")
@to_option
def artifacts_get(
    session: Session, target: Target, record: str, path: str, dest: str | None
) -> None:
    """Download one artifact; its sha256 is checked against the server's."""
    url = records_path(target, record) + "/artifacts/" + quote(path.lstrip("/"))
    download(session.api(), url, dest or Path(path).name)


@artifacts.command("archive")
@shared_options
@click.argument("target", type=TARGET, shell_complete=complete_target)
@click.argument("record")
@to_option
def artifacts_archive(session: Session, target: Target, record: str, dest: str | None) -> None:
    """Download all of a record's artifacts as one .tar.gz."""
    url = records_path(target, record) + "/artifacts.tar.gz"
    default = f"{target.project}-{target.pipeline}-{record}-artifacts.tar.gz"
    download(session.api(), url, dest or default)


def download(api: Api, url: str, dest: str) -> None:
    """Streamed to a temporary file beside `dest`, renamed into place once whole and checked:
    an interrupted download never leaves a file that looks complete."""
    digest = hashlib.sha256()
    if dest == "-":
        for chunk in api.stream(url):
            digest.update(chunk)
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        _check(api, digest.hexdigest())
        return
    target = Path(dest)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in api.stream(url):
                digest.update(chunk)
                out.write(chunk)
                written += len(chunk)
        _check(api, digest.hexdigest())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    click.echo(f"{target} ({size(written)}, sha256 {digest.hexdigest()[:12]})", err=True)


def _check(api: Api, got: str) -> None:
    expected = (api.last_headers.get("etag") or "").strip('"')
    if len(expected) == 64 and expected != got:
        raise CliError(f"the download is damaged: sha256 {got}, the server has {expected}")


@click.command("rerun")
@shared_options
@click.argument("target", type=TARGET, shell_complete=complete_target)
@click.argument("record")
@click.option("--failed", is_flag=True, help="Reuse the stages before the first failed one.")
@follow_option
def rerun(session: Session, target: Target, record: str, failed: bool, follow_it: bool) -> int:
    """Run a finished record again on the same commit; prints the new record's id.

    With --failed, the stages that passed before the first failed one are not run again
    (their artifacts are restored). With --follow, exit codes as for `cyclone run`.
    """
    api = session.api()
    body: dict[str, Any] = {"from": "failed" if failed else "start"}
    new = api.call("POST", records_path(target, record) + "/rerun", json=body)
    if session.output == "table":
        click.echo(new["id"])
    else:
        session.out().emit(new, lambda _: None)
    return follow_record(api, target, new["id"]) if follow_it else 0
