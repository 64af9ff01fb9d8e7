"""Per-pixel downsampling of scalar series that keeps every extreme (M4).

A line chart ``width`` pixels wide cannot show more than a few points per pixel column. For each
column (bucket of equal x width) we keep the first, last, minimum and maximum point: the line drawn
through those is pixel-identical to the line through all points, so spikes never vanish (unlike
TensorBoard's random reservoir or stride sampling). Every kept point is a real logged point, so
hover tooltips show exact values. Pure numpy, O(n), no Python loop over points.

::

    idx = m4_indices(x, y, buckets=800)          # indices into x / y, sorted
    idx = m4_indices(x, y, 800, lo=1e4, hi=2e4)  # a zoomed window (+ one neighbour each side)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
XArray = FloatArray | IntArray  # steps stay integers: converting them costs a whole-series copy
_CHUNK = 8192  # points per temporary in whole-series checks (64 KiB, reused by the allocator)


def m4_indices(
    x: XArray,
    y: FloatArray,
    buckets: int,
    lo: float | None = None,
    hi: float | None = None,
) -> IntArray:
    """Indices of the points to draw: first, last, min and max of ``y`` per x bucket.

    Args:
        x: ascending x values (steps or times).
        y: values, same length; non-finite values (NaN, ±inf) are never returned.
        buckets: number of equal-width x buckets, usually the chart's width in pixels.
        lo, hi: the visible x range; default the whole series. The nearest point outside the
            range on each side is kept too, so a zoomed line runs to the chart's edges.

    Returns:
        Sorted unique int64 indices into ``x`` / ``y``; all finite points in range when there
        are no more than ``4 * buckets`` of them.
    """
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d arrays of one length, got {x.shape} and {y.shape}")
    finite = np.isfinite(y)
    base: IntArray | None = None
    if not finite.all():
        base = np.flatnonzero(finite).astype(np.int64)
        x, y = x[base], y[base]
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = 0 if lo is None else max(int(np.searchsorted(x, lo, "left")) - 1, 0)
    stop = n if hi is None else min(int(np.searchsorted(x, hi, "right")) + 1, n)
    if stop <= start:
        return np.zeros(0, dtype=np.int64)
    picked = start + _m4_window(x[start:stop], y[start:stop], buckets)
    return picked if base is None else base[picked]


def _m4_window(x: XArray, y: FloatArray, buckets: int) -> IntArray:
    n = len(x)
    if n <= 4 * buckets:
        return np.arange(n, dtype=np.int64)
    if _evenly_spaced(x):
        return _m4_even(y, -(-n // buckets))
    x0, x1 = float(x[0]), float(x[-1])
    if x1 <= x0:  # all points share one x: a single bucket
        starts = np.zeros(1, dtype=np.int64)
    else:
        # Point i is in bucket min(floor((x_i - x0) * scale), buckets - 1). x is ascending, so
        # each bucket is one contiguous segment [starts[i], ends[i]), and its first point is
        # found by binary search instead of labelling every point.
        scaled = (x - x0) * (buckets / (x1 - x0))
        starts = _sorted_unique(np.searchsorted(scaled, np.arange(buckets), side="left"))
        starts = starts[starts < n].astype(np.int64)
    ends = np.append(starts[1:], n)
    counts = ends - starts
    segment = np.repeat(np.arange(len(starts)), counts)
    lows = np.minimum.reduceat(y, starts)
    highs = np.maximum.reduceat(y, starts)
    return _sorted_unique(
        np.concatenate(
            [
                starts,
                ends - 1,
                _first_match(y == np.repeat(lows, counts), segment),
                _first_match(y == np.repeat(highs, counts), segment),
            ]
        )
    ).astype(np.int64)


def _evenly_spaced(x: XArray) -> bool:
    """Whether ``x`` rises by one constant step (steps logged every k iterations, the usual case).

    The cheap end-to-end test rejects almost every uneven series (wall times) before the full
    one, which goes in chunks: a whole-series temporary would be fresh memory on every call.
    """
    step = x[1] - x[0]
    if not step > 0 or x[-1] - x[0] != step * (len(x) - 1):
        return False
    for lo in range(0, len(x) - 1, _CHUNK):
        if not (np.diff(x[lo : lo + _CHUNK + 1]) == step).all():
            return False
    return True


def _m4_even(y: FloatArray, per_bucket: int) -> IntArray:
    """M4 for evenly spaced x: buckets of ``per_bucket`` consecutive points are buckets of equal
    x width, so they are rows of a reshaped array and argmin / argmax per row find the extremes
    (first one on ties) in two passes, instead of labelling every point with its bucket."""
    n = len(y)
    full = n // per_bucket
    starts = np.arange(0, n, per_bucket, dtype=np.int64)
    rows = y[: full * per_bucket].reshape(full, per_bucket)
    parts = [
        starts,
        np.minimum(starts + per_bucket, n) - 1,
        starts[:full] + rows.argmin(axis=1),
        starts[:full] + rows.argmax(axis=1),
    ]
    if full * per_bucket < n:
        tail = y[full * per_bucket :]
        edge = full * per_bucket
        parts.append(np.array([edge + tail.argmin(), edge + tail.argmax()], dtype=np.int64))
    return _sorted_unique(np.concatenate(parts))


def _sorted_unique(idx: IntArray) -> IntArray:
    """``np.unique`` for small int arrays, without it: its first call imports ``numpy.ma``
    (~7 ms), which would land on the first chart a user asks for."""
    idx = np.sort(idx)
    keep = np.ones(len(idx), dtype=bool)
    keep[1:] = idx[1:] != idx[:-1]
    return idx[keep].astype(np.int64)


def _first_match(hit: npt.NDArray[np.bool_], segment: IntArray) -> IntArray:
    """Index of the first True of ``hit`` within each segment (every segment has one)."""
    where = np.flatnonzero(hit)
    seg = segment[where]
    first = np.ones(len(where), dtype=bool)
    first[1:] = seg[1:] != seg[:-1]
    return where[first].astype(np.int64)


def ascending(x: XArray) -> IntArray | None:
    """A stable order that sorts ``x``, or None when it is already ascending (the usual case)."""
    if len(x) < 2 or bool(np.all(x[1:] >= x[:-1])):
        return None
    return np.argsort(x, kind="stable").astype(np.int64)
