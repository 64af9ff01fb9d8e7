"""Matplotlib figures as plotly JSON, converted when they are logged.

``log_figure(tag, fig, interactive=True)`` calls :func:`mpl_to_plotly` and writes its result
beside the PNG, so that a viewer draws the figure from plain JSON and never has to unpickle
anything (a pickle from someone else's store runs their code). It translates only what it draws
faithfully: 2-D lines and scatters, 3-D lines, scatters and surfaces (the case that matters most:
rotating a loss landscape), with titles, axis labels, log scales, dashes, steps and subplot
positions. Anything else raises :class:`NotConvertible` whose message says, in words a user
understands, what could not be drawn ("contour plots cannot be drawn interactively"); the
caller records it and the viewer shows the PNG with that reason rather than a wrong picture.

Every string taken from the figure (titles, labels, legend names) is plain text in matplotlib,
but plotly reads strings as a small HTML subset (``<b>``, ``<a href>``): they are escaped here.

Design: the converter works through the figure object's own methods and recognises artists by
their class names (no ``isinstance`` against matplotlib classes), so this module imports no
plotting library. The one exception is resolving colour specs ("C1", "tab:blue"), which only
matplotlib does exactly: ``matplotlib.colors`` is imported inside :func:`_hex`, which runs only
while converting a matplotlib figure, when matplotlib is necessarily imported already.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Why an artist cannot be drawn interactively, by the class names matplotlib gives it.
_UNSUPPORTED_COLLECTIONS = {
    "ContourSet": "contour plots",
    "QuadMesh": "heatmaps (pcolormesh)",
    "PolyQuadMesh": "heatmaps (pcolor)",
    "FillBetweenPolyCollection": "filled areas (fill_between)",
    "PolyCollection": "filled areas and violin plots",
    "LineCollection": "line collections (vlines, hlines, error bars)",
    "EventCollection": "event plots",
    "TriMesh": "triangle meshes",
}


class NotConvertible(Exception):
    """The figure holds something this converter does not draw; ``str()`` says what, for users."""


def _classes(obj: Any) -> set[str]:
    return {cls.__name__ for cls in type(obj).__mro__}


def _esc(text: Any) -> str:
    """``text`` as plotly shows it literally (plotly renders ``<``/``&`` markup in strings)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _hex(color: Any) -> str:
    from matplotlib.colors import to_hex  # loaded already: we are converting its figure

    return str(to_hex(color, keep_alpha=False))


def _label(artist: Any) -> str | None:
    label = artist.get_label()
    return None if not label or str(label).startswith("_") else _esc(label)


def _plain(values: Any) -> list[float | None]:
    arr: Any = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan).ravel()
    return [float(v) if np.isfinite(v) else None for v in arr]


_DASHES = {"--": "dash", "dashed": "dash", ":": "dot", "dotted": "dot", "-.": "dashdot"}
_STEPS = {"steps": "vh", "steps-pre": "vh", "steps-post": "hv", "steps-mid": "hvh"}


def _unsupported_content(ax: Any) -> None:
    if ax.images:
        raise NotConvertible("images (imshow) cannot be drawn interactively")
    if ax.patches:
        raise NotConvertible("bars, histograms and other shapes cannot be drawn interactively")
    if ax.texts:
        raise NotConvertible("text annotations cannot be drawn interactively")
    if ax.tables:
        raise NotConvertible("tables cannot be drawn interactively")


def _collection_reason(coll: Any) -> str:
    names = _classes(coll)
    for cls, what in _UNSUPPORTED_COLLECTIONS.items():
        if cls in names:
            return f"{what} cannot be drawn interactively"
    return f"{type(coll).__name__} artists cannot be drawn interactively"


def _line_2d(line: Any, suffix: str) -> dict[str, Any]:
    x, y = line.get_data()
    marker = line.get_marker()
    has_line = line.get_linestyle() not in ("None", "none", "", " ")
    has_marker = marker not in (None, "None", "none", "", " ")
    mode = "+".join(m for m, on in (("lines", has_line), ("markers", has_marker)) if on)
    style: dict[str, Any] = {"color": _hex(line.get_color()), "width": float(line.get_linewidth())}
    if line.get_linestyle() in _DASHES:
        style["dash"] = _DASHES[line.get_linestyle()]
    if line.get_drawstyle() in _STEPS:
        style["shape"] = _STEPS[line.get_drawstyle()]
    return {
        "type": "scatter",
        "x": _plain(x),
        "y": _plain(y),
        "mode": mode or "lines",
        "name": _label(line) or "",
        "showlegend": _label(line) is not None,
        "line": style,
        "xaxis": "x" + suffix,
        "yaxis": "y" + suffix,
    }


def _scatter_2d(coll: Any, suffix: str) -> dict[str, Any]:
    offsets = np.asarray(coll.get_offsets())
    colors = coll.get_facecolor()
    return {
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


def _axes_2d(ax: Any, n: int, traces: list[Any], layout: dict[str, Any]) -> None:
    _unsupported_content(ax)
    suffix = "" if n == 1 else str(n)
    traces.extend(_line_2d(line, suffix) for line in ax.lines)
    for coll in ax.collections:
        if "PathCollection" not in _classes(coll):
            raise NotConvertible(_collection_reason(coll))
        traces.append(_scatter_2d(coll, suffix))
    box = ax.get_position()
    for axis, other, lo, hi, label, scale in (
        ("x", "y", box.x0, box.x1, ax.get_xlabel(), ax.get_xscale()),
        ("y", "x", box.y0, box.y1, ax.get_ylabel(), ax.get_yscale()),
    ):
        if scale not in ("linear", "log"):
            raise NotConvertible(f"{scale} axis scales cannot be drawn interactively")
        layout[axis + "axis" + suffix] = {
            "domain": [float(lo), float(hi)],
            "anchor": other + suffix,
            "title": {"text": _esc(label)},
            "type": scale,
        }


def _axes_3d(ax: Any, n: int, traces: list[Any], layout: dict[str, Any]) -> None:
    _unsupported_content(ax)
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
        names = _classes(coll)
        if "Path3DCollection" in names:
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
        elif "Poly3DCollection" in names and getattr(coll, "_faces", None) is not None:
            traces.append(_mesh(coll, scene))
        else:
            raise NotConvertible(
                f"this kind of 3-D plot ({type(coll).__name__}) cannot be drawn interactively"
            )
    box = ax.get_position()
    layout[scene] = {
        "domain": {"x": [float(box.x0), float(box.x1)], "y": [float(box.y0), float(box.y1)]},
        "xaxis": {"title": {"text": _esc(ax.get_xlabel())}},
        "yaxis": {"title": {"text": _esc(ax.get_ylabel())}},
        "zaxis": {"title": {"text": _esc(ax.get_zlabel())}},
    }


def _mesh(coll: Any, scene: str) -> dict[str, Any]:
    faces = np.asarray(coll._faces, dtype=float)  # (polygons, corners, 3)
    if faces.ndim != 3 or faces.shape[1] < 3:
        raise NotConvertible("this 3-D surface cannot be drawn interactively")
    count, corners, _ = faces.shape
    base = np.arange(count) * corners
    tri = [(base, base + k, base + k + 1) for k in range(1, corners - 1)]  # fan per polygon
    verts = faces.reshape(-1, 3)
    colors = np.asarray(getattr(coll, "_facecolor3d", coll.get_facecolor()))
    mesh: dict[str, Any] = {
        "type": "mesh3d",
        "x": _plain(verts[:, 0]),
        "y": _plain(verts[:, 1]),
        "z": _plain(verts[:, 2]),
        "i": np.concatenate([t[0] for t in tri]).tolist(),
        "j": np.concatenate([t[1] for t in tri]).tolist(),
        "k": np.concatenate([t[2] for t in tri]).tolist(),
        "scene": scene,
        "flatshading": True,
    }
    if len(colors) == count:
        mesh["facecolor"] = [_hex(c) for c in colors] * (corners - 2)
    else:
        mesh["intensity"] = _plain(verts[:, 2])
    return mesh


def mpl_to_plotly(fig: Any) -> dict[str, Any]:
    """A plotly figure dict (``{"data": [...], "layout": {...}}``) drawing matplotlib ``fig``.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot([0, 1], [2, 3], label="loss")
    >>> mpl_to_plotly(fig)["data"][0]["y"]
    [2.0, 3.0]
    >>> _ = ax.bar([0], [1])
    >>> try:
    ...     mpl_to_plotly(fig)
    ... except NotConvertible as exc:
    ...     print(exc)
    bars, histograms and other shapes cannot be drawn interactively
    >>> plt.close(fig)

    Raises:
        NotConvertible: the figure holds something this converter does not draw faithfully.
    """
    traces: list[Any] = []
    layout: dict[str, Any] = {"showlegend": True, "margin": {"l": 50, "r": 20, "t": 40, "b": 40}}
    titles = []
    for n, ax in enumerate(fig.axes, start=1):
        kind = getattr(ax, "name", "")
        if getattr(ax, "_colorbar", None) is not None:
            raise NotConvertible("colour bars cannot be drawn interactively")
        if kind == "3d":
            _axes_3d(ax, n, traces, layout)
        elif kind == "rectilinear":
            _axes_2d(ax, n, traces, layout)
        else:
            raise NotConvertible(f"{kind or 'these'} axes cannot be drawn interactively")
        if ax.get_title():
            titles.append(ax.get_title())
    suptitle = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    title = suptitle or " | ".join(titles)
    if title:
        layout["title"] = {"text": _esc(title)}
    return {"data": traces, "layout": layout}
