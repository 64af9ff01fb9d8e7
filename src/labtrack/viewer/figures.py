"""Logged figures as something the browser can draw: plotly JSON where possible, else a PNG.

- plotly figures are sent as the JSON the store kept for them (fully interactive).
- matplotlib figures logged with ``interactive=True`` are converted by :func:`mpl_to_plotly`
  when every artist in them is one we translate faithfully: 2-D lines and scatters, 3-D lines,
  scatters and surfaces (the case that matters most: rotating a loss landscape), with titles,
  axis labels, log scales and subplot positions. Anything else (bars, images, fills,
  annotations) is sent as the PNG the store rendered, with the reason, rather than drawn wrong.

Conversions are cached per (figure file, step), since unpickling and converting cost more than a
request should repeat.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np

_cache: dict[tuple[str, str, int], dict[str, Any]] = {}
_lock = threading.Lock()
_MAX_CACHE = 256


class Unsupported(Exception):
    """The figure holds an artist we do not convert; the message names it."""


def _hex(color: Any) -> str:
    from matplotlib.colors import to_hex

    return str(to_hex(color, keep_alpha=False))


def _label(artist: Any) -> str | None:
    label = artist.get_label()
    return None if not label or str(label).startswith("_") else str(label)


def _plain(values: Any) -> list[Any]:
    arr: Any = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan).ravel()
    return [None if not np.isfinite(v) else float(v) for v in arr]


def _axes_2d(ax: Any, n: int, traces: list[Any], layout: dict[str, Any]) -> None:
    from matplotlib.collections import PathCollection

    if ax.images or ax.patches or ax.texts or ax.tables:
        raise Unsupported("images, bars/patches, text annotations or tables")
    suffix = "" if n == 1 else str(n)
    for line in ax.lines:
        x, y = line.get_data()
        marker = line.get_marker()
        has_line = line.get_linestyle() not in ("None", "", " ")
        has_marker = marker not in (None, "None", "", " ")
        mode = "+".join(m for m, on in (("lines", has_line), ("markers", has_marker)) if on)
        traces.append(
            {
                "type": "scatter",
                "x": _plain(x),
                "y": _plain(y),
                "mode": mode or "lines",
                "name": _label(line) or "",
                "showlegend": _label(line) is not None,
                "line": {"color": _hex(line.get_color()), "width": float(line.get_linewidth())},
                "xaxis": "x" + suffix,
                "yaxis": "y" + suffix,
            }
        )
    for coll in ax.collections:
        if not isinstance(coll, PathCollection):
            raise Unsupported(type(coll).__name__)
        offsets = np.asarray(coll.get_offsets())
        colors = coll.get_facecolor()
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": _plain(offsets[:, 0]),
                "y": _plain(offsets[:, 1]),
                "name": _label(coll) or "",
                "showlegend": _label(coll) is not None,
                "marker": {"color": [_hex(c) for c in colors] if len(colors) else None},
                "xaxis": "x" + suffix,
                "yaxis": "y" + suffix,
            }
        )
    box = ax.get_position()
    layout["xaxis" + suffix] = {
        "domain": [float(box.x0), float(box.x1)],
        "anchor": "y" + suffix,
        "title": {"text": ax.get_xlabel()},
        "type": "log" if ax.get_xscale() == "log" else "linear",
    }
    layout["yaxis" + suffix] = {
        "domain": [float(box.y0), float(box.y1)],
        "anchor": "x" + suffix,
        "title": {"text": ax.get_ylabel()},
        "type": "log" if ax.get_yscale() == "log" else "linear",
    }


def _axes_3d(ax: Any, n: int, traces: list[Any], layout: dict[str, Any]) -> None:
    from mpl_toolkits.mplot3d.art3d import (  # type: ignore[import-untyped]
        Path3DCollection,
        Poly3DCollection,
    )

    scene = "scene" if n == 1 else f"scene{n}"
    for line in ax.lines:
        xs, ys, zs = line.get_data_3d()
        traces.append(
            {
                "type": "scatter3d",
                "mode": "lines",
                "x": _plain(xs),
                "y": _plain(ys),
                "z": _plain(zs),
                "name": _label(line) or "",
                "line": {"color": _hex(line.get_color())},
                "scene": scene,
            }
        )
    for coll in ax.collections:
        if isinstance(coll, Path3DCollection):
            xs, ys, zs = coll._offsets3d
            traces.append(
                {
                    "type": "scatter3d",
                    "mode": "markers",
                    "x": _plain(xs),
                    "y": _plain(ys),
                    "z": _plain(zs),
                    "name": _label(coll) or "",
                    "marker": {"size": 3},
                    "scene": scene,
                }
            )
        elif isinstance(coll, Poly3DCollection) and getattr(coll, "_faces", None) is not None:
            traces.append(_mesh(coll, scene))
        else:
            raise Unsupported(type(coll).__name__)
    box = ax.get_position()
    layout[scene] = {
        "domain": {"x": [float(box.x0), float(box.x1)], "y": [float(box.y0), float(box.y1)]},
        "xaxis": {"title": {"text": ax.get_xlabel()}},
        "yaxis": {"title": {"text": ax.get_ylabel()}},
        "zaxis": {"title": {"text": ax.get_zlabel()}},
    }


def _mesh(coll: Any, scene: str) -> dict[str, Any]:
    faces = np.asarray(coll._faces, dtype=float)  # (polygons, corners, 3)
    count, corners, _ = faces.shape
    base = np.arange(count) * corners
    tri = [(base, base + k, base + k + 1) for k in range(1, corners - 1)]  # fan per polygon
    i = np.concatenate([t[0] for t in tri])
    j = np.concatenate([t[1] for t in tri])
    k = np.concatenate([t[2] for t in tri])
    verts = faces.reshape(-1, 3)
    colors = np.asarray(getattr(coll, "_facecolor3d", coll.get_facecolor()))
    face_colors = [_hex(c) for c in colors] if len(colors) == count else None
    mesh: dict[str, Any] = {
        "type": "mesh3d",
        "x": _plain(verts[:, 0]),
        "y": _plain(verts[:, 1]),
        "z": _plain(verts[:, 2]),
        "i": i.tolist(),
        "j": j.tolist(),
        "k": k.tolist(),
        "scene": scene,
        "flatshading": True,
    }
    if face_colors is not None:
        mesh["facecolor"] = face_colors * (corners - 2)
    else:
        mesh["intensity"] = _plain(verts[:, 2])
    return mesh


def mpl_to_plotly(fig: Any) -> dict[str, Any]:
    """A plotly figure dict drawing the same data as matplotlib figure ``fig``.

    Raises:
        Unsupported: the figure holds an artist this converter does not translate.
    """
    traces: list[Any] = []
    layout: dict[str, Any] = {"showlegend": True, "margin": {"l": 50, "r": 20, "t": 40, "b": 40}}
    titles = []
    for n, ax in enumerate(fig.axes, start=1):
        if getattr(ax, "name", "") == "3d":
            _axes_3d(ax, n, traces, layout)
        elif getattr(ax, "name", "") == "rectilinear":
            _axes_2d(ax, n, traces, layout)
        else:
            raise Unsupported(f"{ax.name} axes")
        if ax.get_title():
            titles.append(ax.get_title())
    suptitle = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    title = suptitle or " | ".join(titles)
    if title:
        layout["title"] = {"text": title}
    return {"data": traces, "layout": layout}


def _convert(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "to_plotly_json"):  # a plotly figure
        import plotly.io as pio

        loaded: dict[str, Any] = json.loads(pio.to_json(obj, validate=False))
        return loaded
    if hasattr(obj, "axes") and hasattr(obj, "savefig"):  # a matplotlib figure
        return mpl_to_plotly(obj)
    raise Unsupported(type(obj).__name__)


def figure_payload(view: Any, tag: str, entry: Any, png_url: str | None) -> dict[str, Any]:
    """``{"kind": "plotly", "figure": ...}`` or ``{"kind": "png", "url": ..., "reason": ...}``."""
    static = {"kind": "png", "url": png_url, "step": entry.step}
    stored = getattr(entry, "plotly", None)
    if stored is not None:  # a plotly figure: the store kept its JSON, no unpickling needed
        try:
            with open(stored, encoding="utf-8") as fh:
                return {
                    "kind": "plotly",
                    "figure": json.load(fh),
                    "url": png_url,
                    "step": entry.step,
                }
        except (OSError, ValueError) as exc:
            return {**static, "reason": f"could not read the plotly figure: {exc}"}
    if not getattr(entry, "interactive", False):
        return {**static, "reason": "logged with interactive=False"}
    key = (str(getattr(entry, "path", "") or view.dir), tag, int(entry.step))
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    try:
        payload: dict[str, Any] = {
            "kind": "plotly",
            "figure": _convert(view.load_figure(tag, entry.step)),
            "url": png_url,
            "step": entry.step,
        }
    except Unsupported as exc:
        payload = {**static, "reason": f"not convertible to an interactive figure: {exc}"}
    except Exception as exc:  # unpickling needs the figure's libraries; show the PNG instead
        payload = {**static, "reason": f"could not load the figure: {type(exc).__name__}: {exc}"}
    with _lock:
        if len(_cache) >= _MAX_CACHE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = payload
    return payload
