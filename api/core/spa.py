"""Serving the built console (web/dist) at "/": files as they are, a missing file 404, any other path that is not the
API's (under /api/) gets index.html: the console's own pages."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse

from api.core.errors import ApiError


def mount_console(app: FastAPI, dist: Path, api_prefix: str) -> None:
    root = dist.resolve()
    index = root / "index.html"
    if not index.is_file():
        return

    @app.get("/{path:path}", include_in_schema=False)
    async def console(path: str) -> FileResponse:
        if path.split("/", 1)[0] == "api":  # the API's own misses (a path without the version among them) are JSON
            raise ApiError(404, f"no route /{path}; the API is at {api_prefix}/ and documented at {api_prefix}/docs")
        if any(ord(character) < 32 or ord(character) == 127 for character in path):
            raise ApiError(404, "no page at a path holding a control character (such as %00)")
        candidate = (root / path).resolve()
        # resolve() then is_relative_to: "../" in the path cannot step outside dist/.
        if path and candidate.is_relative_to(root) and candidate.is_file():
            return FileResponse(candidate)
        if "." in path.rsplit("/", 1)[-1]:  # a file the console does not have (a stale build's script), not a page
            raise ApiError(404, f"the console has no file /{path}")
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
