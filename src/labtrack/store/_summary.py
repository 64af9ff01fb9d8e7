"""A run's summary: the values a user sets, and last/min/max/count per scalar tag.

Both are kept in the run's metadata document; the writer owns that document and rewrites it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, MutableMapping
from typing import Any

from ._records import Column
from ._records import bounds as nan_bounds
from ._values import check_tag, storable

#: tag -> [last, min, max, count, last step]; NaN is ignored by min and max.
TagStats = dict[str, list[float]]


def update_stats(
    stats: TagStats,
    tag: str,
    steps: Column,
    values: Column,
    bounds: tuple[float, float] | None = None,
) -> None:
    """Fold a batch of one tag's points into its running statistics (``bounds``: the batch's
    NaN-ignoring min and max, when the caller computed them already)."""
    lo, hi = nan_bounds(values) if bounds is None else bounds
    old = stats.get(tag)
    if old is None:
        stats[tag] = [float(values[-1]), lo, hi, float(len(values)), float(steps[-1])]
    else:
        old[0] = float(values[-1])
        old[1] = lo if math.isnan(old[1]) else old[1] if math.isnan(lo) else min(old[1], lo)
        old[2] = hi if math.isnan(old[2]) else old[2] if math.isnan(hi) else max(old[2], hi)
        old[3] += len(values)
        old[4] = float(steps[-1])


def metrics_document(stats: TagStats) -> dict[str, dict[str, float | int]]:
    """The ``metrics`` entry of the metadata: what readers show as the run's summary."""
    return {
        tag: {"last": s[0], "min": s[1], "max": s[2], "count": int(s[3]), "step": int(s[4])}
        for tag, s in stats.items()
    }


class RunSummary(MutableMapping[str, Any]):
    """``run.summary``: user-set values, checked like a config and persisted with the metadata.

    ``owner`` is the writer: it holds the metadata document (``_meta``) and rewrites it when
    ``_meta_dirty`` is set.
    """

    def __init__(self, owner: Any) -> None:
        self._owner = owner

    @property
    def _values(self) -> dict[str, Any]:
        values: dict[str, Any] = self._owner._meta["summary"]
        return values

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._owner._check_open()
        check_tag(key, "summary key")
        self._values[key] = storable(value, f"summary.{key}")
        self._owner._meta_dirty = True

    def __delitem__(self, key: str) -> None:
        self._owner._check_open()
        del self._values[key]
        self._owner._meta_dirty = True

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"RunSummary({self._values!r})"
