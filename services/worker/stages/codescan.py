"""codeScan: sonar-scanner in a container over the code, then SonarQube's verdict.

The scanner image comes from CYCLONE_SONAR_SCANNER_IMAGE (default the official
sonar-scanner-cli). It runs on the Docker host's network so it reaches SonarQube at the
integration's address as that host does. The worker then follows the analysis over
SonarQube's web API (task, quality gate, measures) with the integration's token; a failing
quality gate fails the stage, with the measures still in the record.
"""

from __future__ import annotations

import io
import tarfile
import time

import docker.errors
import httpx

from services.worker import domain, imaging, scanning
from services.worker.engine import Engine, EngineError, explain
from services.worker.stages import Context, StageAborted, StageFailed
from services.worker.stages.images import engine_of, where_of
from shared.contracts.records import StageDetails
from shared.envvars import Env, SettingError

SCANNER_IMAGE_ENV = "CYCLONE_SONAR_SCANNER_IMAGE"
DEFAULT_SCANNER_IMAGE = "sonarsource/sonar-scanner-cli:latest"
WAIT_ENV = "CYCLONE_SONAR_WAIT"  # seconds to wait for SonarQube's analysis (default 600)
POLL_ENV = "CYCLONE_SONAR_POLL"  # seconds between questions (default 2)
HTTP_TIMEOUT = 30.0


def run(ctx: Context) -> StageDetails:
    engine = engine_of(ctx, "codeScan")
    cfg = domain.sonarqube_of(ctx.pipeline)
    name = (cfg.get("name") or "").strip()
    if not name:
        raise StageFailed("codeScan names no SonarQube integration")
    integration = cfg.get("integration")
    if not isinstance(integration, dict):
        raise StageFailed(f"SonarQube integration {name} not found")
    sonar = integration.get("sonarqube", {})
    address = (sonar.get("address") or "").rstrip("/")
    token = sonar.get("token") or ""
    project = ctx.job.get("project", {}).get("name") or ""
    pipeline = ctx.pipeline.get("name") or ""
    key = scanning.project_key(project, pipeline)
    try:
        args = scanning.scanner_args(key, f"{project}/{pipeline}", cfg.get("config", {}))
    except ValueError as exc:
        raise StageFailed(str(exc)) from exc
    try:
        settings = Env(ctx.env)
        image = settings.text(SCANNER_IMAGE_ENV, DEFAULT_SCANNER_IMAGE)
        wait, every = settings.number(WAIT_ENV, 600), settings.number(POLL_ENV, 2)
    except SettingError as exc:  # the stage fails, not the worker
        raise StageFailed(str(exc)) from exc
    report = _scan(ctx, engine, image, args, address, token)
    ctx.log(f"analysis submitted: task {report['ceTaskId']}")
    details, gate, failed = _verdict(ctx, address, token, key, report["ceTaskId"], wait, every)
    if gate == "ERROR":
        ctx.state.failed_details = details
        raise StageFailed("SonarQube quality gate failed: " + ("; ".join(failed) or "ERROR"))
    ctx.log(f"quality gate: {gate}")
    return details


def _scan(
    ctx: Context, engine: Engine, image: str, args: list[str], address: str, token: str
) -> dict[str, str]:
    """Run the scanner to its end and return its report-task.txt."""
    try:
        engine.ensure_image(image, ctx.log)
        container = engine.run_detached(
            image,
            "scanner",
            args,
            env={"SONAR_HOST_URL": address, "SONAR_TOKEN": token, "SONAR_LOGIN": token},
            workspace=True,
            working_dir=imaging.CODE_DIR,
            network_mode="host",
            start=False,
        )
        try:
            where_of(ctx).seed(container)
            container.start()
            code = engine.stream_logs(container, ctx.log, ctx.abort)
            if ctx.abort.is_set():
                raise StageAborted()
            if code != 0:
                raise StageFailed(f"the SonarQube scanner exited with code {code}")
            stream, _ = container.get_archive(f"{imaging.CODE_DIR}/{scanning.REPORT}")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = next(m for m in tar.getmembers() if m.isfile())
                extracted = tar.extractfile(member)
                if extracted is None:
                    raise StageFailed(f"the scanner left no {scanning.REPORT}")
                text = extracted.read().decode()
        finally:
            engine.remove_container(container.id)
    except docker.errors.NotFound as exc:
        raise StageFailed(f"the scanner wrote no {scanning.REPORT}") from exc
    except (docker.errors.APIError, EngineError) as exc:
        raise StageFailed(f"codeScan: {explain(exc)}") from exc
    try:
        return scanning.parse_report(text)
    except ValueError as exc:
        raise StageFailed(str(exc)) from exc


def _verdict(
    ctx: Context, address: str, token: str, key: str, task_id: str, wait: float, every: float
) -> tuple[StageDetails, str, list[str]]:
    """Wait for the analysis (`wait` seconds at most, asking every `every`), then read the
    quality gate and the measures."""
    auth = (token, "") if token else None
    try:
        with httpx.Client(base_url=address, auth=auth, timeout=HTTP_TIMEOUT) as client:
            deadline = time.monotonic() + wait
            while True:
                status, analysis = scanning.task_state(_get(client, "/api/ce/task", id=task_id))
                if status in scanning.TASK_DONE:
                    break
                if time.monotonic() > deadline:
                    raise StageFailed(f"SonarQube did not finish the analysis in {wait:g}s")
                if ctx.abort.wait(every):
                    raise StageAborted()
            if status != "SUCCESS":
                raise StageFailed(f"SonarQube's analysis ended {status}")
            gate_answer = _get(client, "/api/qualitygates/project_status", analysisId=analysis)
            measures = _get(
                client,
                "/api/measures/component",
                component=key,
                metricKeys=",".join(scanning.METRICS),
            )
    except httpx.HTTPError as exc:
        raise StageFailed(f"SonarQube at {address}: {exc}") from exc
    details = StageDetails(
        sonarqube={
            "measures": scanning.measures(measures),
            "overviewLink": scanning.overview_link(address, key),
        }
    )
    return details, scanning.gate_status(gate_answer), scanning.failed_conditions(gate_answer)


def _get(client: httpx.Client, path: str, **params: str) -> scanning.Answer:
    resp = client.get(path, params=params)
    if resp.status_code in (401, 403):
        raise StageFailed(f"SonarQube refused the integration's token ({resp.status_code})")
    resp.raise_for_status()
    body: object = resp.json()
    return body if isinstance(body, dict) else {}
