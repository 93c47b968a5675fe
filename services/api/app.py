"""The gateway's composition root: `create_app` from injected parts, `get_app` for gunicorn."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import cast

import falcon
import falcon.asgi
from pymongo import AsyncMongoClient

from services.api import errors, middleware, openapi
from services.api.application import hooks as hook_flows
from services.api.application.pipelines import Pipelines
from services.api.application.projects import Projects
from services.api.application.runs import Runs
from services.api.application.scm import CredentialCheck, WebhookRegistrar
from services.api.bodygate import HookBodyGate
from services.api.clients import Bus, Clients
from services.api.correlation import RequestIds
from services.api.events import EventPublisher
from services.api.live import LiveHub
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
from services.api.routes import Resources, add_routes
from services.api.store import DATABASE_DOWN, CatalogStore
from services.api.ui import routes as ui_routes
from services.api.ui.assets import Assets
from services.api.ui.session import Sessions
from services.api.wsgate import WebSocketRefusals
from shared import config, logsetup, mongo, tracing
from shared.crypto import SecretBox
from shared.envvars import Env

log = logging.getLogger("cyclone.api")


@dataclass
class Parts:
    """What the gateway talks to; built lazily inside the event loop that will use it."""

    settings: config.Settings
    store: CatalogStore | None = None
    bus: Bus | None = None
    publisher: EventPublisher | None = None
    hub: LiveHub | None = None


class Lifespan:
    """Opens Mongo and the bus on ASGI start-up, closes them on shutdown."""

    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    async def process_startup(
        self, scope: Mapping[str, object], event: Mapping[str, object]
    ) -> None:
        parts = self._parts
        s = parts.settings
        client: AsyncMongoClient = AsyncMongoClient(
            s.mongo_url, serverSelectionTimeoutMS=5000, tz_aware=True, journal=mongo.JOURNALED
        )
        store = CatalogStore(client, s.mongo_db)
        await store.ensure_indexes()
        bus = Bus(s.nameko_config(), timeout=s.rpc_timeout)
        parts.store, parts.bus = store, bus
        parts.publisher = EventPublisher(store.outbox, bus)
        parts.publisher.start()
        await parts.publisher.flush()
        parts.hub = LiveHub(s.amqp_uri)
        parts.hub.start()

    async def process_shutdown(
        self, scope: Mapping[str, object], event: Mapping[str, object]
    ) -> None:
        parts = self._parts
        if parts.publisher:
            await parts.publisher.stop()
        if parts.hub:
            parts.hub.stop()
        if parts.bus:
            parts.bus.close()
        if parts.store:
            await parts.store.client.close()


class _Late:
    """Resolves a part on first use: resources are built before start-up opens connections."""

    def __init__(self, parts: Parts, name: str) -> None:
        self._parts = parts
        self._name = name

    def __getattr__(self, attr: str) -> object:
        return getattr(getattr(self._parts, self._name), attr)


def redeem_ticket(store: CatalogStore) -> Callable[[str], Awaitable[bool]]:
    async def redeem(ticket: str) -> bool:
        return await store.tickets.redeem(tickets.digest(ticket))

    return redeem


def create_app(settings: config.Settings) -> HookBodyGate:
    if not settings.api_token:
        raise SystemExit("CYCLONE_API_TOKEN is required (make run generates one)")
    if not settings.secret_key:
        raise SystemExit("CYCLONE_SECRET_KEY is required (make run generates one)")
    if not settings.mongo_url:
        raise SystemExit("CYCLONE_MONGO_URL is required (make run starts an embedded server)")
    parts = Parts(settings)
    box = SecretBox(settings.secret_key)
    # stand-ins that become each part at its first use (the parts start in the worker)
    store = cast(CatalogStore, _Late(parts, "store"))
    bus = cast(Bus, _Late(parts, "bus"))
    publisher = cast(EventPublisher, _Late(parts, "publisher"))
    hub = cast(LiveHub, _Late(parts, "hub"))
    rpc = Clients(bus)
    webhooks = WebhookRegistrar(rpc.scm, box, settings.public_url)
    check = CredentialCheck(rpc.scm, box, settings.scm_verify)
    project_flows = Projects(store, box, publisher, check, webhooks)
    pipeline_flows = Pipelines(store, box, rpc.scheduler, rpc.scm, publisher, webhooks)
    runs = Runs(store, rpc.scheduler)
    scoped = (runs, rpc.scheduler, rpc.logs)
    post_commits = hook_flows.PostCommits(store, box, rpc.scheduler)
    deliveries = hook_flows.Deliveries(store, rpc.scm)
    sessions = Sessions(store, settings.api_token, settings.secret_key, settings.public_url)

    app = falcon.asgi.App(
        middleware=(
            Lifespan(parts),
            RequestIds(access=Env().flag("CYCLONE_ACCESS_LOG", True)),
            middleware.Metrics(),
            middleware.Auth(settings.api_token, redeem_ticket(store), sessions),
        ),
    )
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app, DATABASE_DOWN)
    add_routes(
        app,
        Resources(
            projects=projects.Projects(store, project_flows),
            project=projects.Project(store, project_flows),
            pipelines=pipelines.Pipelines(pipeline_flows),
            pipeline=pipelines.Pipeline(pipeline_flows),
            scm_repos=scm.Repos(store, rpc.scm, box),
            scm_branches=scm.Branches(store, rpc.scm, box),
            scm_tags=scm.Tags(store, rpc.scm, box),
            scm_templatetype=scm.TemplateType(store, rpc.scm, box),
            scm_dockerfiles=scm.Dockerfiles(store, rpc.scm, box),
            records=records.Records(*scoped),
            record=records.Record(*scoped),
            record_status=records.RecordStatus(*scoped),
            record_logs=records.RecordLogs(*scoped),
            record_logstream=logstream.RecordLogStream(*scoped, hub),
            stats=records.Stats(*scoped),
            integrations=integrations.Integrations(store, box),
            integration=integrations.Integration(store, box),
            templates=templates.ConfigTemplates(templates.load_templates()),
            clouds=clouds.Clouds(rpc.cloud, box),
            svn_hook=hooks.SvnPostCommit(post_commits),
            github_hook=hooks.ScmWebhook(deliveries, box, "github"),
            gitlab_hook=hooks.ScmWebhook(deliveries, box, "gitlab"),
            cloud=clouds.Cloud(rpc.cloud, box),
            cloud_ping=clouds.CloudPing(rpc.cloud, box),
            cloud_workers=clouds.CloudWorkers(rpc.cloud, box),
            health=meta.Health(store, bus),
            metrics=meta.Metrics(store),
            openapi=meta.OpenApi(openapi.document()),
            tickets=tickets.TicketsResource(store),
            artifacts=artifacts.Artifacts(*scoped),
            artifact=artifacts.Artifact(*scoped),
            artifacts_archive=artifacts.ArtifactsArchive(*scoped),
            record_rerun=artifacts.RecordRerun(*scoped),
        ),
    )
    ui_routes.add_routes(app, sessions, Assets())
    return HookBodyGate(WebSocketRefusals(app))


def get_app() -> HookBodyGate:
    """gunicorn's entry (services/api/__main__.py): `services.api.app:get_app()`."""
    logsetup.configure("api")
    tracing.setup("api")
    return create_app(config.load())
