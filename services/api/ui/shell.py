"""The HTML the gateway renders: the login page, and each page's shell.

A shell holds what the server knows without asking any service (the layout, navigation,
breadcrumbs, heading and title from the URL, the CSRF token); the page's module then fills it
from the public API like any other client. Every value is escaped here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from urllib.parse import quote

from services.api.ui.assets import Assets

# Pages only load this origin's files and talk to this origin (HTTP and WebSocket).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class View:
    """One page: its module, title, heading and breadcrumbs, and what the module reads."""

    kind: str
    title: str
    heading: str
    crumbs: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, str] = field(default_factory=dict)
    nav: str = "projects"


def view_of(kind: str, params: dict[str, str]) -> View:
    project, pipeline, record = (
        params.get("project", ""),
        params.get("pipeline", ""),
        params.get("recordid", ""),
    )
    p_url = f"/ui/projects/{quote(project, safe='')}"
    pl_url = f"{p_url}/pipelines/{quote(pipeline, safe='')}"
    if kind == "projects":
        return View(kind, "Projects", "Projects")
    if kind == "clouds":
        return View(kind, "Clouds", "Clouds", nav="clouds")
    if kind == "project":
        return View(
            kind,
            f"{project} · Projects",
            project,
            [("Projects", "/ui/")],
            {"project": project},
        )
    if kind == "pipeline":
        return View(
            kind,
            f"{pipeline} · {project}",
            pipeline,
            [("Projects", "/ui/"), (project, p_url)],
            {"project": project, "pipeline": pipeline},
        )
    return View(
        "record",
        f"Run {record[:8]} · {pipeline} · {project}",
        f"Run {record[:8]}",
        [("Projects", "/ui/"), (project, p_url), (pipeline, pl_url)],
        {"project": project, "pipeline": pipeline, "record": record},
    )


def _head(assets: Assets, title: str, module: str, csrf: str = "") -> str:
    preload = "".join(
        f'<link rel="modulepreload" href="{assets.url(dep)}">' for dep in assets.imports(module)
    )
    token = f'<meta name="csrf-token" content="{escape(csrf)}">' if csrf else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"{token}<title>{escape(title)} — Cyclone</title>"
        f'<link rel="icon" href="{assets.url("icon.svg")}" type="image/svg+xml">'
        f'<link rel="stylesheet" href="{assets.url("app.css")}">'
        f'{preload}<script type="module" src="{assets.url(module)}"></script>'
        "</head>"
    )


def page(assets: Assets, view: View, csrf: str) -> str:
    data = "".join(f' data-{k}="{escape(v)}"' for k, v in view.data.items())
    links = (("projects", "/ui/", "Projects"), ("clouds", "/ui/clouds", "Clouds"))
    nav = "".join(
        f'<a href="{href}"{" aria-current=page" if key == view.nav else ""}>{label}</a>'
        for key, href, label in links
    )
    crumbs = ""
    if view.crumbs:
        items = "".join(f'<li><a href="{escape(h)}">{escape(t)}</a></li>' for t, h in view.crumbs)
        crumbs = f'<nav class="crumbs" aria-label="Breadcrumb"><ol>{items}</ol></nav>'
    return (
        _head(assets, view.title, f"{view.kind}.js", csrf) + f'<body data-page="{view.kind}"{data}>'
        '<a class="skip" href="#main">Skip to content</a>'
        '<header class="top"><a class="brand" href="/ui/">'
        f'<img src="{assets.url("icon.svg")}" alt="" width="22" height="22">Cyclone</a>'
        f'<nav class="mainnav" aria-label="Main">{nav}</nav>'
        '<form class="logout" method="post" action="/ui/logout">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<button type="submit" class="link">Log out</button></form></header>'
        '<div id="banner" class="banner" role="status" aria-live="polite"></div>'
        f'<main id="main" tabindex="-1">{crumbs}'
        f'<div class="titlebar"><h1 id="heading">{escape(view.heading)}</h1>'
        '<div id="actions" class="actions"></div></div>'
        '<div id="app"><p class="muted loading">Loading…</p></div>'
        '<noscript><p class="error">This page needs JavaScript to show Cyclone\'s data; '
        "the API works without it.</p></noscript></main></body></html>"
    )


def login(assets: Assets, target: str, error: str = "") -> str:
    problem = (
        f'<p id="token-error" class="field-error" role="alert">{escape(error)}</p>' if error else ""
    )
    described = "token-help token-error" if error else "token-help"
    invalid = ' aria-invalid="true"' if error else ""
    return (
        _head(assets, "Sign in", "login.js")
        + '<body data-page="login"><main id="main" class="login">'
        f'<h1><img src="{assets.url("icon.svg")}" alt="" width="32" height="32"> Cyclone</h1>'
        '<form method="post" action="/ui/login" class="card">'
        f'<input type="hidden" name="next" id="next" value="{escape(target)}">'
        '<div class="field"><label for="token">API token</label>'
        '<input id="token" name="token" type="password" autocomplete="current-password" '
        f'required autofocus aria-describedby="{described}"{invalid}>'
        f"{problem}"
        '<p id="token-help" class="hint">The token <code>make run</code> printed, kept in '
        "<code>.cyclone/api-token</code>.</p></div>"
        '<button type="submit" class="primary">Sign in</button></form></main></body></html>'
    )
