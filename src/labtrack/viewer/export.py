"""Charts rendered on the server for download (SVG), with matplotlib's non-GUI Agg backend."""

from __future__ import annotations

import io

import numpy as np


def chart_svg(
    title: str,
    lines: list[tuple[str, np.ndarray, np.ndarray]],
    *,
    x_label: str = "step",
    log: bool = False,
) -> bytes:
    """An SVG line chart of ``(label, x, y)`` lines (labels are text, never markup)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    for label, x, y in lines:
        ax.plot(x, y, linewidth=1.2, label=label)
    ax.set_title(title)
    ax.set_xlabel({"wall": "wall time (s)", "relative": "relative time (s)"}.get(x_label, x_label))
    if log:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    if lines:
        ax.legend(fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    return buf.getvalue()
