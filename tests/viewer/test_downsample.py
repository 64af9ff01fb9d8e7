"""Per-pixel M4 downsampling keeps first, last, min and max of every bucket."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from labtrack.viewer.downsample import ascending, m4_indices


def test_small_series_is_returned_whole():
    x = np.arange(10.0)
    assert m4_indices(x, x * 2, buckets=5).tolist() == list(range(10))


def test_each_bucket_keeps_first_last_min_and_max():
    x = np.arange(16.0)
    y = np.array([5, 1, 9, 5, 5, 5, 5, 5, 0, 5, 5, 7, 5, 8, 2, 5], dtype=float)
    # 2 buckets of 8 points: [0..7] and [8..15]
    idx = m4_indices(x, y, buckets=2)
    # bucket 1: first 0, min 1 (y=1), max 2 (y=9), last 7; bucket 2: first/min 8, max 13, last 15
    assert idx.tolist() == [0, 1, 2, 7, 8, 13, 15]


def _brute_force_m4(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> set[int]:
    keep: set[int] = set()
    for lo, hi in itertools.pairwise(edges):
        ids = np.flatnonzero((x >= lo) & (x < hi))
        if len(ids):
            seg = y[ids]
            keep |= {ids[0], ids[-1], ids[np.argmin(seg)], ids[np.argmax(seg)]}
    return keep


@pytest.mark.parametrize("n", [10_000, 10_007])  # buckets of equal size, or one shorter last
def test_evenly_spaced_steps_keep_every_buckets_extremes(n: int) -> None:
    x = np.arange(n, dtype=float) * 5  # logged every 5 steps
    y = np.random.default_rng(n).normal(size=n)
    idx = m4_indices(x, y, buckets=100)
    per_bucket = -(-n // 100)  # whole points per bucket: each bucket is x-width 5 * per_bucket
    edges = np.append(np.arange(0, n, per_bucket), n) * 5.0
    assert set(idx.tolist()) == _brute_force_m4(x, y, edges)
    assert len(idx) <= 4 * 100


def test_uneven_times_keep_every_buckets_extremes() -> None:
    x = np.cumsum(np.random.default_rng(1).exponential(size=10_000))  # wall times
    y = np.random.default_rng(2).normal(size=10_000)
    idx = m4_indices(x, y, buckets=100)
    edges = x[0] + (x[-1] - x[0]) * np.arange(101) / 100
    edges[-1] = np.inf  # the last point belongs to the last bucket
    assert set(idx.tolist()) == _brute_force_m4(x, y, edges)


def test_a_single_spike_in_a_million_points_survives():
    n = 1_000_000
    x = np.arange(n, dtype=float)
    y = np.zeros(n)
    y[123_457] = 1e6
    y[876_543] = -1e6
    idx = m4_indices(x, y, buckets=800)
    assert len(idx) <= 4 * 800
    assert 123_457 in idx
    assert 876_543 in idx
    assert y[idx].max() == 1e6
    assert y[idx].min() == -1e6
    assert idx[0] == 0
    assert idx[-1] == n - 1


def test_ties_pick_the_first_extreme_of_the_bucket():
    x = np.arange(12.0)
    y = np.array([3, 1, 1, 3, 9, 9, 2, 2, 2, 2, 2, 2], dtype=float)
    # one bucket: first 0, first minimum 1 (not 2), first maximum 4 (not 5), last 11
    assert m4_indices(x, y, buckets=1).tolist() == [0, 1, 4, 11]
    assert m4_indices(x, y, buckets=3).tolist() == list(range(12))  # 12 <= 4 * 3: all kept


def test_zoom_window_keeps_one_neighbour_each_side():
    x = np.arange(100.0)
    y = np.sin(x)
    idx = m4_indices(x, y, buckets=100, lo=10.5, hi=20.5)
    assert idx.tolist() == list(range(10, 22))


def test_non_finite_values_are_never_returned():
    x = np.arange(8.0)
    y = np.array([1, np.nan, 3, np.inf, -np.inf, 6, np.nan, 8], dtype=float)
    assert m4_indices(x, y, buckets=10).tolist() == [0, 2, 5, 7]


def test_uneven_x_buckets_by_value_not_by_count():
    x = np.concatenate([np.arange(100.0), [1000.0]])
    y = np.arange(101.0)
    idx = m4_indices(x, y, buckets=10)
    # the first 100 points fall in bucket 0 (x < 100): first/min 0 and last/max 99; then 1000
    assert idx.tolist() == [0, 99, 100]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="buckets"):
        m4_indices(np.arange(3.0), np.arange(3.0), 0)
    with pytest.raises(ValueError, match=r"one length"):
        m4_indices(np.arange(3.0), np.arange(4.0), 5)


def test_ascending_order_only_when_needed():
    assert ascending(np.array([1.0, 2.0, 2.0, 5.0])) is None
    assert ascending(np.array([3.0, 1.0, 2.0])).tolist() == [1, 2, 0]
