"""imageBuild, integrationTest and imageRelease on the record's Docker engine.

Built images are remembered in the run's state under the name the pipeline wrote, so the
integration test and the release policies find them; every container they start is
labelled with the record and removed when the stage ends (and again with the rest of the
record's resources when the run ends).
"""

from __future__ import annotations

import contextlib
import io
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO

import docker.errors
from docker.models.containers import Container

from services.worker import domain, imaging
from services.worker.engine import Engine, EngineError, explain
from services.worker.executors import SPOOL, Executor, HostExecutor
from services.worker.stages import Context, StageAborted, StageFailed, commands, process
from shared import timefmt
from shared.contracts.catalog import IntegrationService
from shared.contracts.records import ImageTask, StageDetails, StageStatus

INLINE_DOCKERFILE = ".cyclone.Dockerfile"  # where an inline dockerfile goes in the context
SERVICE_LOG_TAIL = 20  # lines of each service's output logged when the test fails


def engine_of(ctx: Context, stage: str) -> Engine:
    if ctx.engine is None:
        raise StageFailed(domain.unavailable_reason(stage, has_engine=False) or stage)
    return ctx.engine


def where_of(ctx: Context) -> Executor:
    return ctx.executor or HostExecutor(ctx.workspace)


def _now() -> str:
    return timefmt.rfc3339(timefmt.now()) or ""


# --- imageBuild ------------------------------------------------------------------------------


def _task(name: str, ref: str) -> ImageTask:
    return ImageTask(name=name, image=ref, status=StageStatus.RUNNING, startTime=_now())


def _ended(task: ImageTask, status: StageStatus) -> None:
    task["status"] = status
    task["endTime"] = _now()


def build(ctx: Context) -> StageDetails:
    """Build every buildInfo; details `{"tasks": [...]}`; the first failure fails the stage
    (after its task is reported Failed)."""
    engine = engine_of(ctx, "imageBuild")
    where = where_of(ctx)
    if not where.has_code():
        raise StageFailed("there is no code to build (did codeCheckout run?)")
    try:
        tasks = imaging.build_tasks(domain.stages_of(ctx.pipeline).get("imageBuild", {}))
    except ValueError as exc:
        raise StageFailed(str(exc)) from exc
    registry = ctx.job.get("project", {}).get("registry")
    done: list[ImageTask] = []
    for task in tasks:
        ref = imaging.image_ref(task.image_name, ctx.state.record_name, registry)
        entry = _task(task.name, ref)
        done.append(entry)
        try:
            _build_one(ctx, engine, where, task, ref)
        except (StageFailed, StageAborted) as exc:
            aborted = isinstance(exc, StageAborted)
            _ended(entry, StageStatus.ABORTED if aborted else StageStatus.FAILED)
            ctx.state.images.pop(task.image_name, None)
            ctx.state.failed_details = {"tasks": done}  # the record shows which task failed
            raise
        _ended(entry, StageStatus.SUCCESS)
        ctx.state.images[imaging.bare_name(task.image_name)] = ref
    return {"tasks": done}


def _build_one(
    ctx: Context, engine: Engine, where: Executor, task: imaging.BuildTask, ref: str
) -> None:
    ctx.log(f"building {ref} from {task.context_dir or '.'} (task {task.name})")
    try:
        context = where.context(task.context_dir)
    except (FileNotFoundError, docker.errors.NotFound) as exc:
        raise StageFailed(f"contextDir {task.context_dir} not found in the code") from exc
    dockerfile = task.dockerfile_path or "Dockerfile"
    if task.dockerfile:
        context = _with_file(context, INLINE_DOCKERFILE, task.dockerfile.encode())
        dockerfile = INLINE_DOCKERFILE
    try:
        output = engine.client.api.build(
            fileobj=context,
            custom_context=True,
            tag=ref,
            dockerfile=dockerfile,
            rm=True,
            forcerm=True,  # no intermediate container stays behind, even after a failure
            decode=True,
        )
        _follow(ctx, output, "build")
    except docker.errors.APIError as exc:
        raise StageFailed(f"building {ref} failed: {explain(exc)}") from exc
    finally:
        context.close()
    if ctx.abort.is_set():
        raise StageAborted()
    extra = _record_tag(ref, ctx.state.record_name)
    if extra != ref:
        engine.client.api.tag(ref, *imaging.split_ref(extra))
        ctx.log(f"tagged {extra}")
    ctx.log(f"built {ref}")


def _record_tag(ref: str, record_name: str) -> str:
    """The image also carries the record name as tag (when its own tag is another)."""
    repository, _tag = imaging.split_ref(ref)
    return f"{repository}:{imaging.tag_of(record_name)}"


def _with_file(context: IO[bytes], name: str, data: bytes) -> IO[bytes]:
    """The context archive with one more file at its root."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - returned
    with tarfile.open(fileobj=context, mode="r") as src, tarfile.open(fileobj=out, mode="w") as tar:
        for member in src:
            if member.name.lstrip("./") == name:
                continue
            tar.addfile(member, src.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    context.close()
    out.seek(0)
    return out


def _follow(ctx: Context, output: Iterator[Mapping[str, object]], what: str) -> None:
    """Log a build's or push's JSON progress; its `error` fails the stage (the engine
    reports failures inside the stream, not as an HTTP error)."""
    for item in output:
        if ctx.abort.is_set():
            raise StageAborted()
        if item.get("error"):
            raise StageFailed(f"{what} failed: {str(item['error']).strip()}")
        text = item.get("stream")
        if text:
            for line in str(text).rstrip("\n").split("\n"):
                ctx.log(line.rstrip("\r"))
        elif item.get("status") and what == "push" and not item.get("progressDetail"):
            ident = f"{item['id']}: " if item.get("id") else ""
            ctx.log(f"{ident}{item['status']}")


# --- integrationTest -------------------------------------------------------------------------


def integration_test(ctx: Context) -> StageDetails:
    """Services on the record's network, then the test commands in the built image."""
    engine = engine_of(ctx, "integrationTest")
    cfg = domain.stages_of(ctx.pipeline).get("integrationTest", {})
    config = cfg.get("config", {})
    image_name = (config.get("imageName") or "").strip()
    if not image_name:
        raise StageFailed("integrationTest.config names no imageName")
    ref = ctx.state.images.get(imaging.bare_name(image_name))
    if ref is None:
        raise StageFailed(f"image {image_name} was not built in this record (run imageBuild)")
    where = where_of(ctx)
    started: list[tuple[str, Container]] = []
    try:
        for service in cfg.get("services", []):
            started.append(_start_service(ctx, engine, service))
        tester = engine.run_detached(
            ref,
            "test",
            imaging.KEEP_ALIVE,
            env=imaging.env_list(config.get("envVars")),
            workspace=True,
            working_dir=imaging.CODE_DIR,
        )
        where.seed(tester)
        env = imaging.env_list(config.get("envVars"))
        in_test = _InContainer(engine, tester)
        try:
            for command in domain.commands_of(config):
                commands.run_shell(ctx, in_test, command, env)
        except StageFailed:
            for name, container in started:
                _log_tail(ctx, name, container)
            raise
    except docker.errors.APIError as exc:
        raise StageFailed(f"integrationTest: {explain(exc)}") from exc
    except EngineError as exc:
        raise StageFailed(str(exc)) from exc
    finally:
        for _name, container in started:
            engine.remove_container(container.id)
        engine.remove_container(imaging.resource_name(engine.record_id, "test"))
    return {}


def _start_service(
    ctx: Context, engine: Engine, service: IntegrationService
) -> tuple[str, Container]:
    name = (service.get("name") or "").strip()
    image = (service.get("image") or "").strip()
    if not name or not image:
        raise StageFailed("every integrationTest service needs a name and an image")
    engine.ensure_image(image, ctx.log)
    command = [str(part) for part in service.get("command", [])]
    container = engine.run_detached(
        image,
        f"svc-{name}",
        command or None,
        env=imaging.env_list(service.get("envVars")),
        alias=name,
    )
    ctx.log(f"service {name} ({image}) started")
    return name, container


def _log_tail(ctx: Context, name: str, container: Container) -> None:
    with contextlib.suppress(docker.errors.APIError):
        tail = container.logs(tail=SERVICE_LOG_TAIL).decode("utf-8", errors="replace")
        ctx.log(f"--- last output of service {name} ---")
        for line in tail.splitlines():
            ctx.log(line)


class _InContainer:
    """Shell lines exec'd in the test container (a CommandRunner: an Executor's `run`,
    nothing more)."""

    code_dir = imaging.CODE_DIR

    def __init__(self, engine: Engine, container: Container) -> None:
        self.engine = engine
        self.container = container

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Callable[[str], None],
        abort: threading.Event,
    ) -> process.Outcome:
        return self.engine.exec(
            self.container, argv, workdir=self.code_dir, env=env, log=log, abort=abort
        )


# --- imageRelease ----------------------------------------------------------------------------


def release(ctx: Context) -> StageDetails:
    """Push each built image its policy lets go; details `{"tasks", "images"}`."""
    engine = engine_of(ctx, "imageRelease")
    cfg = domain.stages_of(ctx.pipeline).get("imageRelease", {})
    registry = ctx.job.get("project", {}).get("registry", {})
    if not registry.get("server"):
        raise StageFailed("the project has no registry to release images to")
    auth = None
    if registry.get("username"):
        auth = {"username": registry["username"], "password": registry.get("password") or ""}
    planned = "integrationTest" in ctx.state.planned
    tested = ctx.state.statuses.get("integrationTest")
    tasks: list[ImageTask] = []
    images: list[str] = []
    failure = ""
    for policy in cfg.get("releasePolicies", []):
        name = (policy.get("imageName") or "").strip()
        ref = ctx.state.images.get(imaging.bare_name(name))
        if ref is None:
            ctx.log(f"{name}: not built in this record, nothing to release")
            continue
        why_not = imaging.release_decision(policy.get("type") or "", tested, planned)
        if why_not:
            ctx.log(f"{ref}: not pushed ({policy.get('type')}: {why_not})")
            continue
        entry = _task(name, ref)
        tasks.append(entry)
        ctx.log(f"pushing {ref}")
        repository, tag = imaging.split_ref(ref)
        try:
            output = engine.client.api.push(
                repository, tag=tag, stream=True, decode=True, auth_config=auth
            )
            _follow(ctx, output, "push")
        except StageAborted:
            _ended(entry, StageStatus.ABORTED)
            raise
        except (StageFailed, docker.errors.APIError) as exc:
            message = str(exc) if isinstance(exc, StageFailed) else explain(exc)
            _ended(entry, StageStatus.FAILED)
            ctx.log(f"{ref}: {message}")
            failure = failure or f"pushing {ref}: {message}"
            continue
        _ended(entry, StageStatus.SUCCESS)
        images.append(ref)
        ctx.log(f"pushed {ref}")
    details = StageDetails(tasks=tasks, images=images)
    if failure:
        ctx.state.failed_details = details
        raise StageFailed(failure)
    return details
