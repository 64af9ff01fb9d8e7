"""The Starlette application: routes, static assets, guards, error handling.

``create_app(root)`` builds an ASGI app over one directory; :mod:`labtrack.viewer._serve` runs it
with uvicorn. The front end is plain JavaScript shipped in ``static/`` (uPlot vendored there);
plotly.js is served from the installed ``plotly`` Python package, so there is no build step.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import api
from ._serve import DEFAULT_CACHE_MB
from .auth import GuardMiddleware, allowed_hosts
from .state import ViewerState

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("labtrack.viewer")

# The page runs only our own scripts; data never becomes markup (textContent everywhere), and
# this policy is the second line of defence should a bug ever let some through. plotly.js's
# WebGL traces (parcoords) compile shaders with new Function, hence 'unsafe-eval'; no inline
# script is ever allowed.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _index(request: Request) -> Response:
    return FileResponse(
        STATIC / "index.html",
        headers={"content-security-policy": CSP, "cache-control": "no-store"},
    )


def _plotly_js(request: Request) -> Response:
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        return Response(
            'console.error("plotly is not installed: pip install \\"labtrack[viewer]\\"")',
            media_type="text/javascript",
        )
    path = Path(spec.origin).parent / "package_data" / "plotly.min.js"
    return FileResponse(
        path, media_type="text/javascript", headers={"cache-control": "max-age=86400"}
    )


async def _bad_request(request: Request, exc: Exception) -> Response:
    return api.json_response({"error": str(exc)}, status=400)


async def _not_found(request: Request, exc: Exception) -> Response:
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return api.json_response({"error": str(message)}, status=404)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return api.json_response({"error": exc.detail}, status=exc.status_code)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("viewer request %s failed", request.url.path, exc_info=exc)
    return api.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=500)


def create_app(
    root: str | Path,
    *,
    token: str | None = None,
    loopback_only: bool = True,
    host: str = "127.0.0.1",
    refresh_interval: float = 1.0,
    cache_mb: float = DEFAULT_CACHE_MB,
) -> Starlette:
    """An ASGI app viewing the runs under ``root``.

    Args:
        root: the directory to view; runs are found recursively.
        token: if set, every request must carry it (see :mod:`labtrack.viewer.auth`).
        loopback_only: answer only requests whose ``Host`` is ``localhost``, ``127.0.0.1``,
            ``[::1]`` or ``host`` (see :mod:`labtrack.viewer.auth`).
        host: the address the server is bound to.
        refresh_interval: seconds between re-reads of the run list and of live runs.
        cache_mb: memory for decoded series, in MB (see :class:`state.SeriesMemory`).
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(
            f"viewer directory {str(root)!r} does not exist or is not a directory"
        )
    hosts = allowed_hosts(host) if loopback_only else None
    routes: list[Any] = [
        Route("/", _index),
        Route("/vendor/plotly.min.js", _plotly_js),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/api/info", api.info),
        Route("/api/runs", api.runs),
        Route("/api/run", api.run_info),
        Route("/api/tags", api.tags),
        Route("/api/scalars", api.scalars),
        Route("/api/scalars.csv", api.scalars_csv),
        Route("/api/scalars.svg", api.scalars_svg),
        Route("/api/text", api.text),
        Route("/api/figures", api.figures),
        Route("/api/figure", api.figure),
        Route("/api/images", api.images),
        Route("/api/videos", api.videos),
        Route("/api/artifacts", api.artifacts),
        Route("/files/{path:path}", api.files),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(GuardMiddleware, token=token, hosts=hosts)],
        exception_handlers={
            api.BadRequest: _bad_request,
            KeyError: _not_found,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.viewer = ViewerState(root, refresh_interval=refresh_interval, cache_mb=cache_mb)
    return app
