"""unitTest and package: shell lines run in order in ./code, then their outputs collected.

Each line runs as `sh -e -c <line>` so a failing step inside one line fails it too, in the
build environment (domain.build_env: envVars and build variables, nothing of the worker's).
"""

from __future__ import annotations

from collections.abc import Mapping

from services.worker import domain
from services.worker.executors import Executor, HostExecutor
from services.worker.outputs import OutputError
from services.worker.stages import CommandRunner, Context, StageAborted, StageFailed
from shared.contracts.errors import InvalidRequest, NotFound, Unauthorized
from shared.contracts.records import StageDetails


def _host(ctx: Context) -> Executor:
    """A context made without a runner's set-up: the Local cloud's executor."""
    return HostExecutor.from_env(ctx.workspace, ctx.env)


def run(ctx: Context, stage: str) -> StageDetails:
    """Run the stage's commands; returns the stage details `{"outputs": [...]}`."""
    cfg = domain.stage_config(ctx.pipeline, stage)
    where = ctx.executor or _host(ctx)
    if not where.has_code():
        raise StageFailed(f"there is no {ctx.code_dir.name} directory (did codeCheckout run?)")
    env = where.command_env(ctx.build_env(stage, where.code_dir))
    for command in domain.commands_of(cfg):
        run_shell(ctx, where, command, env)
    try:
        outputs = where.outputs([str(p) for p in cfg.get("outputs") or []])
    except OutputError as exc:
        raise StageFailed(str(exc)) from exc
    for path in outputs:
        ctx.log(f"output: {path}")
    details: StageDetails = {"outputs": outputs}
    if outputs and ctx.artifacts is not None:
        details["artifacts"] = keep_artifacts(ctx, stage, where, outputs)
    return details


def keep_artifacts(ctx: Context, stage: str, where: Executor, outputs: list[str]) -> list[str]:
    """The outputs' files kept by the logs service, all or none (the stage fails then)."""
    from services.worker.artifacts import Aborted, ArtifactError

    assert ctx.artifacts is not None
    if ctx.abort.is_set():
        raise StageAborted()
    try:
        kept = ctx.artifacts.keep(stage, where.artifact_files(outputs, ctx.log), ctx.log)
    except Aborted as exc:
        raise StageAborted() from exc
    except (ArtifactError, InvalidRequest, NotFound, Unauthorized) as exc:
        raise StageFailed(f"artifacts not kept: {exc}") from exc
    except (OSError, TimeoutError) as exc:
        raise StageFailed(f"artifacts not kept: {type(exc).__name__}: {exc}") from exc
    ctx.log(f"kept {len(kept)} artifact(s)")
    return kept


def run_shell(ctx: Context, where: CommandRunner, command: str, env: Mapping[str, str]) -> None:
    """One shell line, echoed, where `where` runs commands (an executor, or an integration
    test's own container); a non-zero exit fails the stage."""
    out = ctx.execute(
        ["sh", "-e", "-c", command], cwd=ctx.code_dir, echo=command, env=env, executor=where
    )
    if out.code < 0:
        raise StageFailed(f'command "{command}" was killed by signal {-out.code}')
    if out.code != 0:
        raise StageFailed(f'command "{command}" exited with code {out.code}')
