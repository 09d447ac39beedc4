"""Serving the built console (web/dist) at "/": files as they are, any other non-API path gets index.html."""
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
        if path.startswith(api_prefix.strip("/")):
            raise ApiError(404, f"no route /{path}; the API is documented at {api_prefix}/docs")
        if any(ord(character) < 32 or ord(character) == 127 for character in path):
            raise ApiError(404, "no page at a path holding a control character (such as %00)")
        candidate = (root / path).resolve()
        # resolve() then is_relative_to: "../" in the path cannot step outside dist/.
        if path and candidate.is_relative_to(root) and candidate.is_file():
            return FileResponse(candidate)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
