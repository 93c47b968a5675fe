"""The URL table: one line per path, reading like the API document."""

from __future__ import annotations

from dataclasses import dataclass

import falcon.asgi

from services.api.resources import integrations, meta, pipelines, projects, templates


@dataclass(frozen=True)
class Resources:
    projects: projects.Projects
    project: projects.Project
    pipelines: pipelines.Pipelines
    pipeline: pipelines.Pipeline
    integrations: integrations.Integrations
    integration: integrations.Integration
    templates: templates.ConfigTemplates
    health: meta.Health
    metrics: meta.Metrics
    openapi: meta.OpenApi


def add_routes(app: falcon.asgi.App, r: Resources) -> None:
    app.add_route("/healthz", r.health)
    app.add_route("/metrics", r.metrics)
    app.add_route("/api/v1/openapi.json", r.openapi)
    app.add_route("/api/v1/projects", r.projects)
    app.add_route("/api/v1/projects/{project}", r.project)
    app.add_route("/api/v1/projects/{project}/pipelines", r.pipelines)
    app.add_route("/api/v1/projects/{project}/pipelines/{pipeline}", r.pipeline)
    app.add_route("/api/v1/configtemplates", r.templates)
    app.add_route("/api/v1/integrations", r.integrations)
    app.add_route("/api/v1/integrations/{integration}", r.integration)
