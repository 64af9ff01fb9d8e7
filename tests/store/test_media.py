"""Figures are made drawable when they are logged: plotly JSON beside the PNG, or the reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

import labtrack
from tests.conftest import run_python

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _logged(tmp_path, fig, **kwargs):
    """The :class:`MediaEntry` of ``fig`` logged as tag "fig" in a new run."""
    with labtrack.start_run("exp", dir=tmp_path) as run:
        run.log_figure("fig", fig, step=0, **kwargs)
    if isinstance(fig, matplotlib.figure.Figure):
        plt.close(fig)
    (entry,) = labtrack.Store(tmp_path).runs()[0].figures("fig")
    return entry


def _plotly(entry):
    return json.loads(entry.plotly.read_text())


def test_an_interactive_matplotlib_figure_is_converted_when_logged(tmp_path):
    fig, (left, right) = plt.subplots(1, 2)
    left.plot([0, 1, 2], [0, 1, 4], "r--", label="loss")
    left.set_yscale("log")
    left.set_xlabel("step")
    right.scatter([1, 2], [3, 4], label="points")
    fig.suptitle("training")
    entry = _logged(tmp_path, fig)
    assert entry.interactive
    assert entry.static_reason is None
    assert entry.plotly.name == "0.plotly.json"
    assert entry.png.read_bytes().startswith(b"\x89PNG")
    figure = _plotly(entry)
    line, points = figure["data"]
    assert (line["x"], line["y"], line["name"]) == ([0.0, 1.0, 2.0], [0.0, 1.0, 4.0], "loss")
    assert line["line"] == {"color": "#ff0000", "width": 1.5, "dash": "dash"}
    assert (points["x"], points["y"], points["mode"]) == ([1.0, 2.0], [3.0, 4.0], "markers")
    assert points["xaxis"] == "x2"
    layout = figure["layout"]
    assert layout["title"]["text"] == "training"
    assert layout["yaxis"]["type"] == "log"
    assert layout["xaxis"]["title"]["text"] == "step"


def test_3d_lines_scatters_and_surfaces_can_be_rotated(tmp_path):
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    gx, gy = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    ax.plot_surface(gx, gy, gx**2 + gy**2)
    ax.scatter([0], [0], [1])
    ax.plot([0, 1], [0, 1], [0, 1])
    ax.set_zlabel("loss")
    figure = _plotly(_logged(tmp_path, fig))
    assert sorted(t["type"] for t in figure["data"]) == ["mesh3d", "scatter3d", "scatter3d"]
    mesh = next(t for t in figure["data"] if t["type"] == "mesh3d")
    assert len(mesh["i"]) == 2 * 4 * 4  # two triangles per face of the 5x5 grid
    assert figure["layout"]["scene"]["zaxis"]["title"]["text"] == "loss"


@pytest.mark.parametrize(
    ("draw", "reason"),
    [
        (lambda ax: ax.contour(np.eye(4)), "contour plots cannot be drawn interactively"),
        (lambda ax: ax.bar([1, 2], [3, 4]), "bars, histograms and other shapes"),
        (lambda ax: ax.imshow(np.eye(4)), "images (imshow) cannot be drawn interactively"),
        (lambda ax: ax.fill_between([0, 1], [0, 1]), "filled areas (fill_between)"),
        (lambda ax: ax.annotate("peak", (0, 0)), "text annotations cannot be drawn"),
    ],
)
def test_what_cannot_be_converted_keeps_its_png_and_says_why(tmp_path, draw, reason):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    draw(ax)
    entry = _logged(tmp_path, fig)
    assert entry.plotly is None
    assert not list(entry.png.parent.glob("*.plotly.json"))
    assert reason in entry.static_reason
    assert entry.static_reason.endswith("; showing the PNG")
    assert entry.png.read_bytes().startswith(b"\x89PNG")


def test_interactive_false_is_not_converted(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    entry = _logged(tmp_path, fig, interactive=False)
    assert not entry.interactive
    assert entry.plotly is None
    assert entry.static_reason is None
    assert entry.png is not None


def test_figure_text_is_kept_as_text_not_plotly_markup(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label='<a href="https://evil.example">x</a>')
    ax.set_title("<b>loss</b> & acc")
    figure = _plotly(_logged(tmp_path, fig))
    assert figure["data"][0]["name"] == '&lt;a href="https://evil.example"&gt;x&lt;/a&gt;'
    assert figure["layout"]["title"]["text"] == "&lt;b&gt;loss&lt;/b&gt; &amp; acc"


def test_a_plotly_figure_keeps_its_own_json(tmp_path):
    go = pytest.importorskip("plotly.graph_objects")
    entry = _logged(tmp_path, go.Figure(go.Scatter3d(x=[0, 1], y=[0, 1], z=[0, 1])))
    assert _plotly(entry)["data"][0]["type"] == "scatter3d"
    assert entry.static_reason is None


def test_the_converter_imports_no_plotting_library(tmp_path):
    result = run_python(
        """
        import sys
        import labtrack.store._figures
        import labtrack.store._media
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("matplotlib", "plotly")))
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
