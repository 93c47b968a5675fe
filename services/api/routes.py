"""The URL table: one line per path, reading like the API document."""

from __future__ import annotations

from dataclasses import dataclass

import falcon.asgi

from services.api.resources import (
    artifacts,
    clouds,
    hooks,
    integrations,
    logstream,
    meta,
    pipelines,
    projects,
    records,
    scm,
    templates,
    tickets,
)


@dataclass(frozen=True)
class Resources:
    projects: projects.Projects
    project: projects.Project
    pipelines: pipelines.Pipelines
    pipeline: pipelines.Pipeline
    scm_repos: scm.Repos
    scm_branches: scm.Branches
    scm_tags: scm.Tags
    scm_templatetype: scm.TemplateType
    scm_dockerfiles: scm.Dockerfiles
    integrations: integrations.Integrations
    integration: integrations.Integration
    records: records.Records
    record: records.Record
    record_status: records.RecordStatus
    record_logs: records.RecordLogs
    record_logstream: logstream.RecordLogStream
    stats: records.Stats
    templates: templates.ConfigTemplates
    clouds: clouds.Clouds
    svn_hook: hooks.SvnPostCommit
    github_hook: hooks.ScmWebhook
    gitlab_hook: hooks.ScmWebhook
    cloud: clouds.Cloud
    cloud_ping: clouds.CloudPing
    cloud_workers: clouds.CloudWorkers
    health: meta.Health
    metrics: meta.Metrics
    openapi: meta.OpenApi
    tickets: tickets.TicketsResource
    artifacts: artifacts.Artifacts
    artifact: artifacts.Artifact
    artifacts_archive: artifacts.ArtifactsArchive
    record_rerun: artifacts.RecordRerun


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
