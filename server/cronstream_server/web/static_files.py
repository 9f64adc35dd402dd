"""The dashboard's built bundle, served as files.

The dashboard routes with the URL's fragment (`/#/jobs/<id>`), so every page
is `/`: a path that is not a file of the bundle is a 404, never index.html.
index.html is never cached, so a new bundle is picked up on the next load;
the other files are revalidated (ETag and Last-Modified, which FileResponse sends).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX = "index.html"


class StaticFiles:
    def __init__(self, root: Path = STATIC_DIR) -> None:
        self._root = root.resolve()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("path", "") or INDEX
        path = self._file(name)
        if path is None and name == INDEX:
            raise web.HTTPNotFound(text="the dashboard is not built into this install\n")
        if path is None:
            raise web.HTTPNotFound(text="not found\n")
        cache = "no-store" if path.name == INDEX and path.parent == self._root else "no-cache"
        return web.FileResponse(path, headers={"Cache-Control": cache})

    def _file(self, name: str) -> Path | None:
        """The file `name` names inside the bundle; None for anything else
        (a folder, a dot file, a path leaving the bundle)."""
        if any(part.startswith(".") for part in name.split("/")):
            return None
        path = (self._root / name).resolve()
        if not path.is_relative_to(self._root) or not path.is_file():
            return None
        return path
