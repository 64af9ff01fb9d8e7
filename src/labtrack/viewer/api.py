"""The JSON and file routes of the viewer. Handlers are sync: Starlette runs them in threads.

All data comes from :class:`~labtrack.viewer.state.ViewerState` (which reads through
``labtrack.store``); all file bytes go through :func:`~labtrack.viewer.files.resolve_inside`, and
a file named by a run's records gets a URL only when it is inside that run
(:func:`~labtrack.viewer.files.inside_run`). Nothing is ever unpickled (see ``figures.py``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from .downsample import ascending, m4_indices
from .files import PathRefused, inside_run, relative_to_root, resolve_inside
from .state import Series, ViewerState, _safe, flatten, run_detail

if TYPE_CHECKING:
    from labtrack.store import MediaEntry, RunView

MAX_BUCKETS = 4000
X_MODES = ("step", "wall", "relative")


class BadRequest(Exception):
    """A request parameter is missing or invalid; becomes a 400 naming the parameter."""


def _dumps(obj: Any) -> bytes:
    try:
        import orjson  # optional: 5-10x faster on large series payloads
    except ImportError:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
    return bytes(orjson.dumps(obj))


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(
        _dumps(obj),
        status_code=status,
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


def _state(request: Request) -> ViewerState:
    state: ViewerState = request.app.state.viewer
    return state


def _param(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None or value == "":
        raise BadRequest(f"missing query parameter {name!r}")
    return value


def _int(request: Request, name: str, default: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadRequest(f"missing query parameter {name!r}")
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be an integer, got {raw!r}") from None


def _float(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise BadRequest(f"query parameter {name!r} must be finite, got {raw!r}")
    return value


def _handles(request: Request) -> list[int]:
    raw = _param(request, "runs")
    try:
        handles = [int(h) for h in raw.split(",") if h]
    except ValueError:
        raise BadRequest(
            f"query parameter 'runs' must be comma-separated integers: {raw!r}"
        ) from None
    state = _state(request)
    for h in handles:
        try:
            state.entry(h)
        except KeyError:
            raise BadRequest(f"unknown run handle {h}") from None
    return handles


def _x_mode(request: Request) -> str:
    mode = request.query_params.get("x", "step")
    if mode not in X_MODES:
        raise BadRequest(f"query parameter 'x' must be one of {', '.join(X_MODES)}, got {mode!r}")
    return mode


def x_values(series: Series, mode: str) -> np.ndarray:
    if mode == "step":
        return series.steps
    if mode == "wall":
        return series.wall_times
    start = series.wall_times[0] if len(series.wall_times) else 0.0
    return series.wall_times - start


# -- routes -----------------------------------------------------------------------------------
def info(request: Request) -> Response:
    state = _state(request)
    memory = state.memory
    return json_response(
        {
            "root": str(state.root),
            "root_shown": _shown_path(state.root),
            "refresh_ms": int(state.refresh_interval * 1000),
            "series_memory": {"used_bytes": memory.used, "budget_bytes": memory.budget},
        }
    )


def _shown_path(path: Path) -> str:
    """``path`` as a shell shows it: ``~/runs`` for a directory under the home directory."""
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except (ValueError, RuntimeError):  # not under home, or no home directory known
        return str(path)


def runs(request: Request) -> Response:
    rows, version = _state(request).runs()
    if request.query_params.get("since") == version:
        return json_response({"version": version, "unchanged": True})
    # the server's clock: the browser counts running runs' durations up from it
    return json_response({"version": version, "runs": rows, "now": time.time()})


def run_info(request: Request) -> Response:
    """One run in full: the runs-table row, why it failed with the traceback, damage found,
    where it ran, and its artifacts with their metadata."""
    state = _state(request)
    h = _int(request, "run")
    try:
        view = state.fresh_view(h)
    except KeyError:
        raise KeyError(f"no run with handle {h}") from None
    if view.unreadable is None:
        view.scalar_tags  # noqa: B018  (reads the data file, so that damage is in problems)
    detail = run_detail(state.entry(h))
    detail["artifacts"] = _artifact_rows(state, view) if view.unreadable is None else []
    return json_response(detail)


def tags(request: Request) -> Response:
    """Tags of each kind over the given runs: ``{"scalars": {tag: [handles]}, ...}``."""
    state = _state(request)
    kinds: dict[str, dict[str, list[int]]] = {
        "scalars": {},
        "text": {},
        "figures": {},
        "images": {},
        "videos": {},
    }
    attrs = {
        "scalars": "scalar_tags",
        "text": "text_tags",
        "figures": "figure_tags",
        "images": "image_tags",
        "videos": "video_tags",
    }
    errors: dict[int, str] = {}
    for h in _handles(request):
        try:
            view = state.fresh_view(h)
            for kind, attr in attrs.items():
                for tag in getattr(view, attr):
                    kinds[kind].setdefault(tag, []).append(h)
        except Exception as exc:  # one unreadable run must not hide the others
            errors[h] = f"{type(exc).__name__}: {exc}"
    out: dict[str, Any] = {k: dict(sorted(v.items())) for k, v in kinds.items()}
    out["errors"] = errors
    return json_response(out)


def scalars(request: Request) -> Response:
    """Downsampled series of one tag for several runs (M4 per pixel column, extremes kept)."""
    state = _state(request)
    tag = _param(request, "tag")
    handles = _handles(request)
    buckets = min(max(_int(request, "width", 800), 1), MAX_BUCKETS)
    mode = _x_mode(request)
    lo, hi = _float(request, "xmin"), _float(request, "xmax")

    def one(h: int) -> dict[str, Any]:
        try:
            return downsampled(state, h, tag, mode, buckets, lo, hi)
        except Exception as exc:
            return {"run": h, "error": f"{type(exc).__name__}: {exc}", "total": 0, "shown": 0}

    if len(handles) > 1:
        # Reading a run cold is file I/O, checksums and numpy, which release the GIL: runs are
        # read side by side (each run has its own RunView, so they share nothing), one thread
        # per core: more only contend for the process's page-fault lock on fresh memory.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(_cores(), 8, len(handles))) as pool:
            out = list(pool.map(one, handles))
    else:
        out = [one(h) for h in handles]
    return json_response({"tag": tag, "x": mode, "series": out})


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def downsampled(
    state: ViewerState,
    h: int,
    tag: str,
    mode: str,
    buckets: int,
    lo: float | None,
    hi: float | None,
) -> dict[str, Any]:
    """One run's series of ``tag``, downsampled; whole-range answers are cached until it grows
    (looked up by the point count, so a series released from memory is not read for a hit)."""
    whole = lo is None and hi is None
    if whole:
        hit: dict[str, Any] | None = state.downsampled.get(
            (h, tag, mode, buckets, state.series_length(h, tag))
        )
        if hit is not None:
            return hit
    series = state.series(h, tag)
    key = (h, tag, mode, buckets, len(series.values))
    x = x_values(series, mode)
    y = series.values
    steps = series.steps
    order = ascending(x)
    if order is not None:
        x, y, steps = x[order], y[order], steps[order]
    idx = m4_indices(x, y, buckets, lo, hi)
    out: dict[str, Any] = {
        "run": h,
        "total": len(y),
        "shown": len(idx),
        # steps are sent as integers; with x=step they are the x values themselves
        "x": steps[idx].tolist() if mode == "step" else x[idx].tolist(),
        "y": y[idx].tolist(),
        "last_step": int(series.steps[-1]) if len(series.steps) else None,
        "last_value": _finite(series.values[-1]) if len(series.values) else None,
    }
    if mode != "step":
        out["step"] = steps[idx].tolist()
    if whole:
        state.downsampled.put(key, out)
    return out


def _run_names(state: ViewerState, handles: list[int]) -> dict[int, str]:
    names = {}
    for h in handles:
        view = state.entry(h).view
        names[h] = str(_safe(lambda v=view: v.name, "") or state.entry(h).path)  # type: ignore[misc]
    return names


def scalars_csv(request: Request) -> Response:
    """Full-resolution CSV of one tag for several runs (never sampled)."""
    state = _state(request)
    tag = _param(request, "tag")
    handles = _handles(request)
    names = _run_names(state, handles)

    def rows() -> Iterator[bytes]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["run", "run_path", "tag", "step", "wall_time", "value"])
        for h in handles:
            series = state.series(h, tag)
            path = state.entry(h).path
            for start in range(0, len(series.values), 50_000):
                sl = slice(start, start + 50_000)
                for step, wall, value in zip(
                    series.steps[sl].tolist(),
                    series.wall_times[sl].tolist(),
                    series.values[sl].tolist(),
                    strict=True,
                ):
                    writer.writerow([names[h], path, tag, step, repr(wall), repr(value)])
                yield buf.getvalue().encode()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue().encode()

    filename = quote(f"{tag.replace('/', '_')}.csv")
    return StreamingResponse(
        rows(),
        media_type="text/csv",
        headers={"content-disposition": f"attachment; filename*=UTF-8''{filename}"},
    )


def scalars_svg(request: Request) -> Response:
    """One tag's chart as SVG, drawn by matplotlib from the downsampled (extreme-keeping) series."""
    from .export import chart_svg

    state = _state(request)
    tag = _param(request, "tag")
    handles = _handles(request)
    mode = _x_mode(request)
    log = request.query_params.get("log") == "1"
    names = _run_names(state, handles)
    lines = []
    for h in handles:
        series = state.series(h, tag)
        x, y = x_values(series, mode), series.values
        order = ascending(x)
        if order is not None:
            x, y = x[order], y[order]
        idx = m4_indices(x, y, 1600)
        lines.append((names[h], x[idx], y[idx]))
    svg = chart_svg(tag, lines, x_label=mode, log=log)
    filename = quote(f"{tag.replace('/', '_')}.svg")
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={"content-disposition": f"attachment; filename*=UTF-8''{filename}"},
    )


def _file_url(state: ViewerState, run_dir: Path, path: str | Path | None) -> str | None:
    """The ``/files/`` URL of a file named by a record of the run in ``run_dir``; None when it
    is absent, missing, or not inside that run (never a URL to anything else)."""
    real = inside_run(run_dir, path)
    rel = None if real is None else relative_to_root(state.root, real)
    return None if rel is None else "/files/" + quote(rel)


def text(request: Request) -> Response:
    state = _state(request)
    h = _int(request, "run")
    tag = _param(request, "tag")
    entries = state.fresh_view(h).text(tag)
    return json_response(
        {
            "run": h,
            "tag": tag,
            "entries": [
                {"step": e.step, "wall_time": e.wall_time, "text": str(e.text)} for e in entries
            ],
        }
    )


def _media(state: ViewerState, view: RunView, entries: list[MediaEntry]) -> list[dict[str, Any]]:
    return [
        {
            "step": e.step,
            "wall_time": e.wall_time,
            "url": _file_url(state, view.dir, e.png if e.kind == "figure" else e.path),
            "interactive": bool(e.interactive),
        }
        for e in entries
    ]


def figures(request: Request) -> Response:
    state = _state(request)
    h = _int(request, "run")
    tag = _param(request, "tag")
    view = state.fresh_view(h)
    return json_response({"run": h, "tag": tag, "entries": _media(state, view, view.figures(tag))})


def figure(request: Request) -> Response:
    """One figure: its plotly JSON when it has one, else its PNG's URL and why (figures.py)."""
    from .figures import figure_payload

    state = _state(request)
    h = _int(request, "run")
    tag = _param(request, "tag")
    step = _int(request, "step")
    view = state.fresh_view(h)
    entry = next((e for e in view.figures(tag) if e.step == step), None)
    if entry is None:
        raise BadRequest(f"run {h} has no figure {tag!r} at step {step}")
    png = _file_url(state, view.dir, entry.png)
    return json_response(figure_payload(view.dir, entry, png))


def images(request: Request) -> Response:
    state = _state(request)
    h = _int(request, "run")
    tag = _param(request, "tag")
    view = state.fresh_view(h)
    return json_response({"run": h, "tag": tag, "entries": _media(state, view, view.images(tag))})


def videos(request: Request) -> Response:
    """A video tag's entries: the MP4 or GIF's URL, its poster (first frame) and its format."""
    state = _state(request)
    h = _int(request, "run")
    tag = _param(request, "tag")
    view = state.fresh_view(h)
    entries = view.videos(tag)
    out = _media(state, view, entries)
    for item, entry in zip(out, entries, strict=True):
        item["poster"] = _file_url(state, view.dir, entry.png)
        item["format"] = "gif" if entry.path.suffix.lower() == ".gif" else "mp4"
    return json_response({"run": h, "tag": tag, "entries": out})


def artifacts(request: Request) -> Response:
    state = _state(request)
    h = _int(request, "run")
    view = state.fresh_view(h)
    return json_response({"run": h, "artifacts": _artifact_rows(state, view)})


def _artifact_rows(state: ViewerState, view: RunView) -> list[dict[str, Any]]:
    """A run's artifacts as JSON rows, with the metadata they were logged with."""
    return [
        {
            "name": str(a.name),
            "kind": str(a.kind),
            "size": a.size,
            "sha256": a.sha256,
            "step": a.step,
            "wall_time": a.wall_time,
            "url": _file_url(state, view.dir, a.path),
            "metadata": flatten(a.metadata),
        }
        for a in view.artifacts()
    ]


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def files(request: Request) -> Response:
    """A file inside the viewed directory, by its path relative to it (see files.py)."""
    state = _state(request)
    rel = request.path_params["path"]
    try:
        real = resolve_inside(state.root, rel)
    except PathRefused as exc:
        return Response(f"Forbidden: {exc}", status_code=403, media_type="text/plain")
    except FileNotFoundError:
        return Response("Not found", status_code=404, media_type="text/plain")
    download = request.query_params.get("download") == "1"
    return FileResponse(
        real,
        filename=real.name if download else None,
        content_disposition_type="attachment" if download else "inline",
        headers={"x-content-type-options": "nosniff", "content-security-policy": "sandbox"},
    )
