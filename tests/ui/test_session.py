"""The UI's session over plain HTTP: the cookie, its CSRF defence, logout, redirects, the
pages' headers and weight. (What a browser does with them: test_pages.py.)"""

from __future__ import annotations

import re

import httpx
import pytest
import websocket

from services.api.ui.assets import Assets
from services.api.ui.routes import PAGES
from services.api.ui.session import COOKIE, SESSION_TTL

CSRF = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')


def signed_in(stack, **headers: str) -> httpx.Client:
    client = httpx.Client(base_url=stack.url, timeout=30)
    resp = client.post(
        "/ui/login", data={"token": stack.token, "next": "/ui/clouds"}, headers=headers
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/ui/clouds", resp.text
    return client


def csrf_of(client: httpx.Client) -> str:
    page = client.get("/ui/")
    assert page.status_code == 200
    return CSRF.search(page.text).group(1)


def test_root_and_pages_send_to_login_keeping_the_target(stack):
    with httpx.Client(base_url=stack.url) as anon:
        assert anon.get("/").headers["location"] == "/ui/"
        resp = anon.get("/ui/projects/a/pipelines/b/records/c?x=1")
        assert resp.status_code == 303
        assert resp.headers["location"] == (
            "/ui/login?next=%2Fui%2Fprojects%2Fa%2Fpipelines%2Fb%2Frecords%2Fc%3Fx%3D1"
        )
        login = anon.get(resp.headers["location"])
        assert (
            'name="next" id="next" value="/ui/projects/a/pipelines/b/records/c?x=1"' in login.text
        )
        assert '<label for="token">API token</label>' in login.text
        assert 'type="password"' in login.text
        # only the UI's own paths are targets (no open redirect)
        for bad in ("//evil.example/ui", "https://evil.example/", "/api/v1/projects", "/ui\\x"):
            page = anon.get("/ui/login", params={"next": bad})
            assert 'id="next" value="/ui/"' in page.text, bad


def test_login_sets_a_strict_http_only_cookie(stack):
    with httpx.Client(base_url=stack.url) as client:
        wrong = client.post("/ui/login", data={"token": "nope", "next": "/ui/"})
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        assert "not valid" in wrong.text
        ok = client.post("/ui/login", data={"token": stack.token, "next": "/ui/clouds"})
        assert ok.status_code == 303 and ok.headers["location"] == "/ui/clouds"
        cookie = ok.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        flags = {f.strip().lower() for f in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/", f"max-age={SESSION_TTL}"} <= flags
        assert "secure" not in flags  # plain HTTP here
        assert stack.token not in ok.headers["location"] and stack.token not in cookie


def test_cookie_is_secure_behind_https(stack):
    # uvicorn takes X-Forwarded-Proto from a proxy on loopback, as one would terminate TLS
    with httpx.Client(base_url=stack.url) as client:
        ok = client.post(
            "/ui/login",
            data={"token": stack.token},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert ok.status_code == 303
        assert "secure" in {f.strip().lower() for f in ok.headers["set-cookie"].split(";")}


def test_cookie_reads_and_csrf_guards_writes(stack, unique):
    client = signed_in(stack)
    token = csrf_of(client)
    assert client.get("/api/v1/projects").status_code == 200
    body = {
        "name": unique,
        "scm": {"type": "Github", "server": "https://scm.example.com", "token": "t"},
    }
    no_token = client.post("/api/v1/projects", json=body)
    assert no_token.status_code == 403, no_token.text
    assert "X-CSRF-Token" in no_token.json()["message"]
    wrong = client.post("/api/v1/projects", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    cross_site = client.post(
        "/api/v1/projects",
        json=body,
        headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403 and "cross-site" in cross_site.json()["message"]
    fetch_site = client.post(
        "/api/v1/projects",
        json=body,
        headers={"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"},
    )
    assert fetch_site.status_code == 403
    ok = client.post(
        "/api/v1/projects",
        json=body,
        headers={"X-CSRF-Token": token, "Origin": stack.url, "Sec-Fetch-Site": "same-origin"},
    )
    assert ok.status_code == 201, ok.text
    # the bearer token needs no CSRF token (not a browser's ambient credential)
    with stack.client() as api:
        assert api.delete(f"/api/v1/projects/{unique}").status_code == 204


def test_logout_ends_the_session_everywhere(stack):
    client = signed_in(stack)
    cookie = client.cookies[COOKIE]
    token = csrf_of(client)
    refused = client.post("/ui/logout", data={"csrf": "x"})
    assert refused.status_code == 403
    out = client.post("/ui/logout", data={"csrf": token})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    cleared = out.headers["set-cookie"].lower()
    assert cleared.startswith(f'{COOKIE}="";') and "expires=" in cleared  # now: gone
    # the old cookie, replayed (say from another gateway process), is dead
    with httpx.Client(base_url=stack.url, cookies={COOKIE: cookie}) as replay:
        for _ in range(4):  # the gateway runs several processes: each must refuse it
            assert replay.get("/api/v1/projects").status_code == 401
            assert replay.get("/ui/").status_code == 303


def test_cross_site_login_is_refused(stack):
    with httpx.Client(base_url=stack.url) as client:
        resp = client.post(
            "/ui/login",
            data={"token": stack.token},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert resp.status_code == 403 and "set-cookie" not in resp.headers


def test_the_websocket_never_takes_the_cookie(stack, unique):
    client = signed_in(stack)
    url = stack.url.replace("http://", "ws://")
    path = f"/api/v1/projects/{unique}/pipelines/p/records/{'0' * 24}/logstream"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url + path, cookie=f"{COOKIE}={client.cookies[COOKIE]}")
    assert refused.value.status_code == 401
    # a ticket asked for with the cookie (and its CSRF token) is what a page uses
    ticket = client.post("/api/v1/tickets", headers={"X-CSRF-Token": csrf_of(client)})
    assert ticket.status_code == 201


def test_pages_are_locked_down_and_small(stack):
    client = signed_in(stack)
    assets = Assets()
    for path, kind in PAGES:
        concrete = re.sub(r"\{\w+\}", "x", path)
        resp = client.get(concrete)
        assert resp.status_code == 200, (path, resp.status_code)
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["cache-control"] == "no-store"
        # every module the page loads, and the stylesheet: under 300 KB together
        files = [f"{kind}.js", *assets.imports(f"{kind}.js"), "app.css"]
        weight = len(resp.content) + sum(len(assets.files[f].body) for f in files)
        assert weight < 300 * 1024, (kind, weight)
        for name in files:
            asset = client.get(assets.url(name))
            assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
            again = client.get(assets.url(name), headers={"If-None-Match": asset.headers["etag"]})
            assert again.status_code == 304
        # nothing from another origin
        assert not re.search(r'(src|href)="(https?:)?//', resp.text)


def test_yaml_definitions_are_accepted_without_aliases(stack, unique):
    with stack.client() as api:
        assert (
            api.post(
                "/api/v1/projects",
                json={
                    "name": unique,
                    "scm": {"type": "Github", "server": "https://g.example.com", "token": "t"},
                },
            ).status_code
            == 201
        )
        yaml_body = (
            "name: fromyaml\nbuild:\n  builderImage: {image: local}\n  stages:\n"
            "    codeCheckout:\n      mainRepo: {type: other, otherCodeSource: {url: 'file:///x'}}\n"
            "    package:\n      command: ['echo 2024-01-01']\n"
        )
        headers = {"Content-Type": "application/yaml"}
        url = f"/api/v1/projects/{unique}/pipelines"
        made = api.post(url, content=yaml_body, headers=headers)
        assert made.status_code == 201, made.text
        assert made.json()["build"]["stages"]["package"]["command"] == ["echo 2024-01-01"]
        bomb = "a: &a [x, x]\nb: &b [*a, *a]\nname: bomb\n"
        refused = api.post(url, content=bomb, headers=headers)
        assert refused.status_code == 400 and "aliases" in refused.json()["message"]
