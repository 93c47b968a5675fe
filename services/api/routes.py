"""The URL table: one line per path, reading like the API document."""

from __future__ import annotations

from dataclasses import dataclass

import falcon.asgi

# Classes, not modules: the fields below are named like the resource modules.
from services.api.resources.artifacts import Artifact, Artifacts, ArtifactsArchive, RecordRerun
from services.api.resources.clouds import Cloud, CloudPing, Clouds, CloudWorkers
from services.api.resources.hooks import ScmWebhook, SvnPostCommit
from services.api.resources.integrations import Integration, Integrations
from services.api.resources.logstream import RecordLogStream
from services.api.resources.meta import Health, Metrics, OpenApi
from services.api.resources.pipelines import Pipeline, Pipelines
from services.api.resources.projects import Project, Projects
from services.api.resources.records import Record, RecordLogs, Records, RecordStatus, Stats
from services.api.resources.scm import Branches, Dockerfiles, Repos, Tags, TemplateType
from services.api.resources.templates import ConfigTemplates
from services.api.resources.tickets import TicketsResource


@dataclass(frozen=True)
class Resources:
    projects: Projects
    project: Project
    pipelines: Pipelines
    pipeline: Pipeline
    scm_repos: Repos
    scm_branches: Branches
    scm_tags: Tags
    scm_templatetype: TemplateType
    scm_dockerfiles: Dockerfiles
    integrations: Integrations
    integration: Integration
    records: Records
    record: Record
    record_status: RecordStatus
    record_logs: RecordLogs
    record_logstream: RecordLogStream
    stats: Stats
    templates: ConfigTemplates
    clouds: Clouds
    svn_hook: SvnPostCommit
    github_hook: ScmWebhook
    gitlab_hook: ScmWebhook
    cloud: Cloud
    cloud_ping: CloudPing
    cloud_workers: CloudWorkers
    health: Health
    metrics: Metrics
    openapi: OpenApi
    tickets: TicketsResource
    artifacts: Artifacts
    artifact: Artifact
    artifacts_archive: ArtifactsArchive
    record_rerun: RecordRerun


PL = "/api/v1/projects/{project}/pipelines/{pipeline}"


def add_routes(app: falcon.asgi.App, r: Resources) -> None:
    app.add_route("/healthz", r.health)
    app.add_route("/metrics", r.metrics)
    app.add_route("/api/v1/openapi.json", r.openapi)
    app.add_route("/api/v1/projects", r.projects)
    app.add_route("/api/v1/projects/{project}", r.project)
    app.add_route("/api/v1/projects/{project}/pipelines", r.pipelines)
    app.add_route("/api/v1/projects/{project}/pipelines/{pipeline}", r.pipeline)
    app.add_route("/api/v1/projects/{project}/repos", r.scm_repos)
    app.add_route("/api/v1/projects/{project}/branches", r.scm_branches)
    app.add_route("/api/v1/projects/{project}/tags", r.scm_tags)
    app.add_route("/api/v1/projects/{project}/templatetype", r.scm_templatetype)
    app.add_route("/api/v1/projects/{project}/dockerfiles", r.scm_dockerfiles)
    app.add_route("/api/v1/projects/{project}/stats", r.stats)
    app.add_route(PL + "/stats", r.stats)
    app.add_route(PL + "/records", r.records)
    app.add_route(PL + "/records/{recordid}", r.record)
    app.add_route(PL + "/records/{recordid}/status", r.record_status)
    app.add_route(PL + "/records/{recordid}/logs", r.record_logs)
    app.add_route(PL + "/records/{recordid}/logstream", r.record_logstream)
    app.add_route(PL + "/records/{recordid}/artifacts", r.artifacts)
    app.add_route(PL + "/records/{recordid}/artifacts.tar.gz", r.artifacts_archive)
    app.add_route(PL + "/records/{recordid}/artifacts/{path:path}", r.artifact)
    app.add_route(PL + "/records/{recordid}/rerun", r.record_rerun)
    app.add_route("/api/v1/configtemplates", r.templates)
    app.add_route("/api/v1/tickets", r.tickets)
    app.add_route("/api/v1/subversion/{svnrepoid}/postcommithook", r.svn_hook)
    app.add_route("/api/v1/pipelines/{pipelineid}/githubwebhook", r.github_hook)
    app.add_route("/api/v1/pipelines/{pipelineid}/gitlabwebhook", r.gitlab_hook)
    app.add_route("/api/v1/clouds", r.clouds)
    app.add_route("/api/v1/clouds/{cloud}", r.cloud)
    app.add_route("/api/v1/clouds/{cloud}/ping", r.cloud_ping)
    app.add_route("/api/v1/clouds/{cloud}/workers", r.cloud_workers)
    app.add_route("/api/v1/integrations", r.integrations)
    app.add_route("/api/v1/integrations/{integration}", r.integration)
