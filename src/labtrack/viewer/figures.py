"""Logged figures as the browser draws them: the plotly JSON written at log time, else the PNG.

Nothing here unpickles, ever: a figure's pickle is named by the run's own records, and a run
copied from someone else may hold one that runs their code when loaded. What is shown was made
when the figure was logged (see ``labtrack.store._media``):

- a plotly figure, or a matplotlib figure logged with ``interactive=True`` that converted, has
  ``<step>.plotly.json``: sent as it is, drawn interactively;
- otherwise the PNG is sent with the reason in words: ``interactive=False``, the reason recorded
  at log time ("contour plots cannot be drawn interactively; showing the PNG"), or, for
  matplotlib figures logged by a labtrack that did not convert at log time, that the
  interactive view is unavailable for them.

Every file read goes through :func:`~labtrack.viewer.files.inside_run`: a record naming a file
outside its run directory is treated as naming nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .files import inside_run

if TYPE_CHECKING:
    from labtrack.store import MediaEntry

#: Larger plotly files are not sent (a browser would stall drawing them); the PNG is shown.
MAX_PLOTLY_BYTES = 64 * 2**20

OLDER_LABTRACK = (
    "the interactive view is unavailable for figures logged by an older labtrack "
    "(it converted them when shown, which meant unpickling them); showing the PNG"
)


class NoFigureFile(KeyError):
    """Neither a drawable plotly file nor a PNG of the figure is inside its run directory."""


def figure_payload(run_dir: Path, entry: MediaEntry, png_url: str | None) -> dict[str, Any]:
    """``{"kind": "plotly", "figure": ...}`` or ``{"kind": "png", "url": ..., "reason": ...}``.

    Raises:
        NoFigureFile: there is nothing to show (no PNG and no plotly file inside the run).
    """
    static: dict[str, Any] = {"kind": "png", "url": png_url, "step": entry.step}
    figure, reason = _stored_plotly(run_dir, entry)
    if figure is not None:
        return {"kind": "plotly", "figure": figure, "url": png_url, "step": entry.step}
    if png_url is None:
        raise NoFigureFile(
            f"figure {entry.tag!r} at step {entry.step} has no file inside its run directory"
            + (f" ({reason})" if reason else "")
        )
    return {**static, "reason": reason}


def _stored_plotly(run_dir: Path, entry: MediaEntry) -> tuple[dict[str, Any] | None, str]:
    """The figure's plotly JSON, or None and why the PNG is shown instead."""
    path = inside_run(run_dir, entry.plotly)
    if path is None:
        if entry.plotly is not None:
            return None, "its interactive file is missing or outside the run directory"
        if not entry.interactive:
            return None, "logged with interactive=False"
        return None, plain_reason(entry.static_reason) if entry.static_reason else OLDER_LABTRACK
    size = path.stat().st_size
    if size > MAX_PLOTLY_BYTES:
        return None, f"its interactive file is too large to draw ({size / 2**20:.0f} MB)"
    try:
        figure = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        return None, f"its interactive file cannot be read ({type(exc).__name__})"
    if not isinstance(figure, dict):
        return None, "its interactive file is not a plotly figure"
    return figure, ""


#: What a user calls the matplotlib artists whose class names older stores recorded as the
#: reason ("QuadContourSet"): matched as substrings of the class name, first match wins.
_ARTIST_WORDS = (
    ("Contour", "contour plots"),
    ("Quiver", "arrow (quiver) plots"),
    ("Barbs", "wind barb plots"),
    ("QuadMesh", "colour meshes (pcolormesh)"),
    ("PolyCollection", "filled areas and violin plots"),
    ("LineCollection", "line collections (error bars, vlines)"),
    ("Image", "images (imshow)"),
    ("Patch", "shapes and patches"),
    ("Text", "text annotations"),
    ("Table", "tables"),
)
_CLASS_NAME = re.compile(r"\b([A-Z][a-z0-9]+){2,}\b")


def plain_reason(reason: str) -> str:
    """The recorded reason a figure is shown as its PNG, in words a user understands.

    Reasons written by this labtrack are already sentences ("contour plots cannot be drawn
    interactively"); older stores, and artists the converter does not know, name matplotlib
    classes ("QuadContourSet", "FooCollection artists cannot be drawn interactively"), which
    mean nothing to most users: they become "contour plots cannot be drawn interactively"
    or "this kind of plot (FooCollection) cannot be drawn interactively".
    """
    match = _CLASS_NAME.search(reason)
    if match is None:
        return reason
    name = match.group(0)
    what = next((words for key, words in _ARTIST_WORDS if key in name), None)
    plain = f"{what} cannot" if what else f"this kind of plot ({name}) cannot"
    return f"{plain} be drawn interactively; showing the PNG"
