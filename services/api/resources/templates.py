"""/api/v1/configtemplates: the built-in templates kept in services/api/data/templates.yaml."""

from __future__ import annotations

from pathlib import Path

import falcon.asgi
import yaml

from services.api import views

TEMPLATES_FILE = Path(__file__).resolve().parent.parent / "data" / "templates.yaml"
FIELDS = (
    "name",
    "type",
    "builderImage",
    "testCommands",
    "packageCommands",
    "packageOutputs",
    "customizedDockerfile",
)


def load_templates(path: Path = TEMPLATES_FILE) -> list[dict[str, str]]:
    """Read and check the data file once; a broken file stops the gateway at start-up."""
    items = yaml.safe_load(path.read_text())
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of templates")
    for item in items:
        missing = [f for f in FIELDS if not isinstance(item.get(f), str)]
        if missing:
            raise ValueError(f"{path}: template {item.get('name')!r} lacks {missing}")
    return [{f: item[f] for f in FIELDS} for item in items]


class ConfigTemplates:
    def __init__(self, templates: list[dict[str, str]]) -> None:
        self._body = views.page(len(templates), templates)

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = self._body
