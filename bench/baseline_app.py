"""The benchmark's baseline: the least a Falcon ASGI app can do to answer GET /projects/{name}.

One route, one async pymongo `find_one` on the collection the gateway uses, the document
back as JSON. No auth, no middleware, no masking: what is left is the cost of the server
(gunicorn's ASGI worker), Falcon's routing and one round trip to the database, which is the
floor the gateway's GET /api/v1/projects/{name} is compared with.

Served by bench/api.py as `gunicorn -k asgi 'bench.baseline_app:get_app()'` with the Mongo
URL in BENCH_MONGO_URL.
"""

from __future__ import annotations

import json
import os

import falcon
import falcon.asgi
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection


class Project:
    """GET /projects/{name}: the stored project, or 404."""

    def __init__(self, mongo_url: str) -> None:
        self._mongo_url = mongo_url
        self._projects: AsyncCollection | None = None

    def _collection(self) -> AsyncCollection:
        # Created on first use, inside the worker's event loop (after gunicorn's fork), with the
        # gateway's client options. No await between the check and the assignment, so
        # concurrent first requests cannot create two clients.
        if self._projects is None:
            client: AsyncMongoClient = AsyncMongoClient(
                self._mongo_url, serverSelectionTimeoutMS=5000, tz_aware=True
            )
            self._projects = client.get_default_database("cyclone").projects
        return self._projects

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, name: str) -> None:
        doc = await self._collection().find_one({"name": name})
        if doc is None:
            raise falcon.HTTPNotFound()
        resp.data = json.dumps(doc, default=str).encode()
        resp.content_type = falcon.MEDIA_JSON


def create_app(mongo_url: str) -> falcon.asgi.App:
    app = falcon.asgi.App()
    app.add_route("/projects/{name}", Project(mongo_url))
    return app


def get_app() -> falcon.asgi.App:
    """gunicorn's entry: `gunicorn -k asgi 'bench.baseline_app:get_app()'`."""
    return create_app(os.environ["BENCH_MONGO_URL"])
