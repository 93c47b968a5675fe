"""The UI's files (services/api/ui/static): read once at start-up, served from memory.

They are this repository's own hand-written ES modules, one stylesheet and an icon: no build
step, nothing from a CDN. Their URLs carry a digest of all of them
(`/ui/static/<version>/<name>`), so a browser may cache them for good and a new release is
fetched at once; relative `import './x.js'` stays inside the same version.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# `... from './x.js'` (one line or the last of several) and bare `import './x.js'`; written
# without a lazy run before `from`, which backtracks (tests/unit/test_regex_cost.py).
_IMPORT = re.compile(r"""(?:\bfrom|^\s*import)\s*['"]\./([\w.-]+\.js)['"]""", re.M)


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


class Assets:
    def __init__(self, folder: Path = STATIC_DIR) -> None:
        self.files: dict[str, Asset] = {}
        whole = hashlib.sha256()
        for path in sorted(folder.iterdir()):
            if path.suffix not in TYPES or not path.is_file():
                continue
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()
            whole.update(path.name.encode() + b"\0" + digest.encode())
            self.files[path.name] = Asset(body, TYPES[path.suffix], f'"{digest[:32]}"')
        self.version = whole.hexdigest()[:12]

    def url(self, name: str) -> str:
        return f"/ui/static/{self.version}/{name}"

    def imports(self, name: str) -> list[str]:
        """Every module `name` imports statically, transitively (for <link rel=modulepreload>:
        the browser fetches them at once instead of one level at a time)."""
        seen: list[str] = []
        todo = [name]
        while todo:
            current = todo.pop()
            asset = self.files.get(current)
            if asset is None:
                continue
            for dep in _IMPORT.findall(asset.body.decode()):
                if dep not in seen and dep != name:
                    seen.append(dep)
                    todo.append(dep)
        return seen
