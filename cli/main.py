"""The `cyclone` command: the group, `login`, `completion`, and how failures become exit codes.

No failure prints a Python traceback unless `--debug` (or CYCLONE_DEBUG=1) asks for one: the
API's message and reason go to stderr, and the exit code tells a script what happened
(cli/domain.py, docs/cli.md).
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from cli import completion
from cli.api import Api
from cli.commands.artifacts import artifacts, rerun
from cli.commands.catalog import pipelines, projects, templates
from cli.commands.clouds import clouds
from cli.commands.runs import abort, logs, records, run, stats
from cli.domain import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CliError
from cli.session import Session, shared_options
from cli.settings import DEFAULT_SERVER, config_path, read_file, resolve, write_file

EXIT_BUG = 70  # sysexits' EX_SOFTWARE: a bug of the CLI itself
EXIT_BROKEN_PIPE = 141  # what a shell reports for a writer killed by SIGPIPE


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--server", metavar="URL", help="Cyclone's address [env CYCLONE_SERVER].")
@click.option("--token", metavar="TOKEN", help="API token [env CYCLONE_TOKEN].")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@click.version_option(package_name="cyclone", prog_name="cyclone")
@click.pass_context
def cli(
    ctx: click.Context, server: str | None, token: str | None, debug: bool, output: str
) -> None:
    """Cyclone from a terminal: projects, pipelines, runs and their live logs.

    The server and token come from --server/--token, else CYCLONE_SERVER/CYCLONE_TOKEN, else
    the file `cyclone login` writes.
    """
    ctx.obj = Session(server=server, token=token, output=output, debug=debug)


@cli.command("login")
@shared_options
def login(session: Session) -> None:
    """Ask for the server and API token, check them, and save them (0600) for later commands."""
    path = config_path()
    stored = read_file(path)
    server = session.server or click.prompt(
        "Server", default=os.environ.get("CYCLONE_SERVER") or stored.get("server") or DEFAULT_SERVER
    )
    token = session.token or _ask_token()
    conn = resolve(server, token, stored={})
    api = Api(conn, "cyclone-cli/login")
    try:
        api.get("/api/v1/projects", limit=1)  # 401 for a wrong token, before anything is saved
    finally:
        api.close()
    write_file(path, conn.server, conn.token)
    click.echo(f"logged in to {conn.server}; saved to {path}")


def _ask_token() -> str:
    """Hidden at a terminal; one line from stdin otherwise (`echo $T | cyclone login`)."""
    if sys.stdin.isatty():
        return click.prompt("API token", hide_input=True)
    line = sys.stdin.readline().strip()
    if not line:
        raise click.UsageError("no API token on stdin")
    return line


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh"]))
def completion_script(shell: str) -> None:
    """Print the completion script: eval "$(cyclone completion bash)" in ~/.bashrc."""
    click.echo(completion.script(cli, shell))


for command in (
    projects,
    pipelines,
    templates,
    run,
    rerun,
    records,
    logs,
    abort,
    artifacts,
    stats,
    clouds,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv or sys.argv) or os.environ.get("CYCLONE_DEBUG") == "1"
    try:
        result = cli.main(args=argv, prog_name="cyclone", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.UsageError as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CliError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        # The reader went away (`| head`): say nothing, and keep Python from complaining
        # about the unflushable stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
        if debug:
            traceback.print_exc()
        else:
            click.echo(f"error: {type(exc).__name__}: {exc} (--debug shows where)", err=True)
        sys.exit(EXIT_BUG)
    sys.exit(result if isinstance(result, int) else EXIT_OK)
