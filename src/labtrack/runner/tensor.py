"""``Tensor``: a shape-keeping container of configs or results.

Data is one flat list in row-major order plus a shape; no numpy, so it holds any Python object.
Selections by name pattern or dict query keep the grid when the matches form one (a sub-grid
of the original axes) and are flat otherwise.

Indexing follows pyexp's ``Tensor`` so that code written for it runs unchanged: a single int is
a flat (row-major) index, a tuple indexes per axis, a selection that matches exactly one element
is that element, and one that matches nothing raises ``IndexError`` naming the pattern.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from labtrack.errors import require

_MISSING = object()
_GLOB_CHARS = re.compile(r"[*?\[]")


class Tensor:
    """Configs or results laid out on the grid that ``sweep`` builds.

    >>> t = Tensor([{"name": f"a_{i}{j}", "x": i, "y": j} for i in range(2) for j in range(3)], shape=(2, 3))
    >>> t.shape, len(t), t[1, 2]["name"], t[:, 0].shape, t[4]["name"]
    ((2, 3), 6, 'a_12', (2,), 'a_11')
    >>> t[{"x": 1, "y": 0}]["name"], [r["name"] for r in t[{"y": 0}]]
    ('a_10', ['a_00', 'a_10'])

    Indexing: a single int is a flat index in row-major order (``t[0]`` is the first element,
    as in pyexp); a tuple has an int or slice per axis (missing trailing axes mean ``:``; all
    ints give one element); a string is a glob on ``name``; a dict matches dotted keys
    (``{"config.lr": 0.1}``) or nested dicts, partially (``{"mlp": {"width": 32}}`` matches
    whatever else ``mlp`` holds). A string or dict that matches exactly one element gives that
    element, several give a ``Tensor``, none raise ``IndexError``. Iteration and ``len`` are
    over all elements, in row-major order.
    """

    __slots__ = ("_data", "_shape")

    def __init__(self, data: Iterable[Any], shape: Sequence[int] | None = None) -> None:
        self._data: list[Any] = list(data)
        if shape is None:
            shape = (len(self._data),)
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) != len(self._data):
            raise ValueError(f"shape {shape} does not match data length {len(self._data)}")
        self._shape: tuple[int, ...] = shape

    @property
    def shape(self) -> tuple[int, ...]:
        """Size of each axis (one axis per ``sweep``, plus the initial list)."""
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self._shape)

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def tolist(self) -> list[Any]:
        """The elements as a flat list, in row-major order."""
        return list(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Tensor):
            return self._shape == other._shape and self._data == other._data
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        names = [e.get("name") if isinstance(e, Mapping) else e for e in self._data[:4]]
        more = ", ..." if len(self._data) > 4 else ""
        return f"Tensor(shape={self._shape}, len={len(self._data)}, [{', '.join(map(repr, names))}{more}])"

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._by_pattern(key)
        if isinstance(key, Mapping):
            return self._by_query(key)
        if callable(key):
            return self._select([i for i, e in enumerate(self._data) if key(e)], repr(key))
        if isinstance(key, int) and not isinstance(key, bool):
            n = len(self._data)
            if not -n <= key < n:
                raise IndexError(f"index {key} out of range for a tensor of {n} elements")
            return self._data[key]
        if not isinstance(key, tuple):
            key = (key,)
        return self._by_position(key)

    # --- positional -------------------------------------------------------------------------
    def _by_position(self, key: tuple[Any, ...]) -> Any:
        if len(key) > len(self._shape):
            raise IndexError(f"Too many indices: {len(key)} for a tensor of shape {self._shape}")
        key = key + (slice(None),) * (len(self._shape) - len(key))
        axes: list[range | list[int]] = []
        shape: list[int] = []
        for axis, (k, size) in enumerate(zip(key, self._shape, strict=True)):
            if isinstance(k, slice):
                r = range(*k.indices(size))
                axes.append(r)
                shape.append(len(r))
            elif isinstance(k, int) and not isinstance(k, bool):
                i = k + size if k < 0 else k
                if not 0 <= i < size:
                    raise IndexError(f"index {k} out of range for axis {axis} of size {size}")
                axes.append([i])
            else:
                raise TypeError(
                    f"tensor index must be int, slice, str (name pattern) or dict (query), "
                    f"got {type(k).__name__}"
                )
        strides = self._strides()
        data = [
            self._data[sum(i * s for i, s in zip(idx, strides, strict=True))]
            for idx in itertools.product(*axes)
        ]
        if not shape:
            return data[0]
        return Tensor(data, shape)

    def _strides(self) -> list[int]:
        strides = [1] * len(self._shape)
        for axis in range(len(self._shape) - 2, -1, -1):
            strides[axis] = strides[axis + 1] * self._shape[axis + 1]
        return strides

    # --- selections -------------------------------------------------------------------------
    def _by_pattern(self, pattern: str) -> Any:
        names = [e.get("name") if isinstance(e, Mapping) else None for e in self._data]
        if not _GLOB_CHARS.search(pattern):
            hits = [i for i, n in enumerate(names) if n == pattern]
        else:
            regex = re.compile(fnmatch.translate(pattern))
            hits = [i for i, n in enumerate(names) if isinstance(n, str) and regex.match(n)]
        return self._one_or_many(hits, f"pattern {pattern!r}")

    def _by_query(self, query: Mapping[str, Any]) -> Any:
        tests = [(_getter(str(k)), v) for k, v in query.items()]
        hits = [
            i
            for i, e in enumerate(self._data)
            if all(_matches(get(e), want) for get, want in tests)
        ]
        return self._one_or_many(hits, f"query {dict(query)!r}")

    def _one_or_many(self, hits: list[int], what: str) -> Any:
        if len(hits) == 1:
            return self._data[hits[0]]
        return self._select(hits, what)

    def _select(self, hits: list[int], what: str) -> Tensor:
        if not hits:
            raise IndexError(f"No configs match {what}")
        data = [self._data[i] for i in hits]
        if len(self._shape) > 1:
            per_axis: list[set[int]] = [set() for _ in self._shape]
            for flat in hits:
                for axis in range(len(self._shape) - 1, -1, -1):
                    flat, i = divmod(flat, self._shape[axis])
                    per_axis[axis].add(i)
            shape = tuple(len(s) for s in per_axis)
            if math.prod(shape) == len(hits):  # the matches form a sub-grid: keep it
                return Tensor(data, shape)
        return Tensor(data, (len(data),))

    def to_pandas(self) -> Any:
        """One row per element, nested keys flattened to dotted columns (``config.lr``)."""
        pd: Any = require("pandas", "data", "Tensor.to_pandas")
        return pd.DataFrame([_flatten(e) if isinstance(e, Mapping) else {"value": e} for e in self])


def _matches(value: Any, want: Any) -> bool:
    """``value == want``, except that a dict ``want`` matches any mapping holding its items."""
    if value is _MISSING:
        return False
    if isinstance(want, Mapping) and isinstance(value, Mapping):
        return all(k in value and _matches(value[k], v) for k, v in want.items())
    return bool(value == want)


def _getter(dotted: str) -> Callable[[Any], Any]:
    parts = dotted.split(".")

    def get(element: Any) -> Any:
        value = element
        for part in parts:
            try:
                value = value[part]
            except (KeyError, TypeError, IndexError):
                return _MISSING
        return value

    if len(parts) == 1:  # the common cases, without the loop
        (a,) = parts

        def get1(element: Any) -> Any:
            try:
                return element[a]
            except (KeyError, TypeError, IndexError):
                return _MISSING

        return get1
    if len(parts) == 2:
        a, b = parts

        def get2(element: Any) -> Any:
            try:
                return element[a][b]
            except (KeyError, TypeError, IndexError):
                return _MISSING

        return get2
    return get


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


#: pyexp's names for a ``Tensor`` of configs and of results (the same class).
ConfigTensor = Tensor
ResultTensor = Tensor
