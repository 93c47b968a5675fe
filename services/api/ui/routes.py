"""The UI's URL table (fixed: links to these pages are shared and sent in notifications)."""

from __future__ import annotations

import falcon.asgi

from services.api.ui import pages
from services.api.ui.assets import Assets
from services.api.ui.session import Sessions

PAGES = (
    ("/ui", "projects"),
    ("/ui/projects/{project}", "project"),
    ("/ui/projects/{project}/pipelines/{pipeline}", "pipeline"),
    ("/ui/projects/{project}/pipelines/{pipeline}/records/{recordid}", "record"),
    ("/ui/clouds", "clouds"),
)


def add_routes(app: falcon.asgi.App, sessions: Sessions, assets: Assets) -> None:
    app.add_route("/", pages.Root())
    app.add_route("/ui/login", pages.Login(sessions, assets))
    app.add_route("/ui/logout", pages.Logout(sessions))
    app.add_route("/ui/static/{version}/{name}", pages.Static(assets))
    for path, kind in PAGES:
        app.add_route(path, pages.Page(kind, sessions, assets))
