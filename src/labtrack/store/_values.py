"""Validation of what users log: tags, steps, scalar values and storable configs.

Errors name what was wrong (the tag, the key path) and use the built-in ``TypeError`` and
``ValueError`` so users catch them like any argument error; unstorable configs raise
:class:`~labtrack.errors.ConfigError`, which is also a ``ValueError``.
"""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from ..errors import ConfigError

MAX_TAG_LENGTH = 256
#: The largest step: steps are stored as signed 64-bit integers.
MAX_STEP = 2**63 - 1


def check_tag(tag: object, what: str = "tag") -> str:
    if not isinstance(tag, str):
        raise TypeError(f"{what} must be a str, got {type(tag).__name__}: {tag!r}")
    if not tag:
        raise ValueError(f"{what} must not be empty")
    if len(tag) > MAX_TAG_LENGTH:
        raise ValueError(
            f"{what} {tag[:40]!r}... is {len(tag)} characters long; the limit is {MAX_TAG_LENGTH}"
        )
    if "\0" in tag or "\n" in tag:
        raise ValueError(f"{what} {tag!r} must not contain NUL or newline characters")
    return tag


def to_float(tag: str, value: object) -> float:
    """A Python float for ``value`` (Python/numpy number, 0-d array, torch scalar), or TypeError."""
    try:
        if isinstance(value, float | int):  # bool is an int: logged as 0.0 / 1.0
            return float(value)
        if isinstance(value, numbers.Real):  # numpy scalars, Fraction, Decimal-like reals
            return float(value)
        item = _single_item(value)
    except OverflowError:
        raise ValueError(
            f"value for tag {tag!r} is too large for a 64-bit float: {_short(value)}"
        ) from None
    if item is not None:
        return item
    raise TypeError(
        f"value for tag {tag!r} must be a real number (int, float, numpy or torch scalar), "
        f"got {type(value).__name__}: {_short(value)}"
    )


def _single_item(value: object) -> float | None:
    """Numbers hidden in 0-d / one-element arrays and tensors, without importing torch."""
    shape = getattr(value, "shape", None)
    item = getattr(value, "item", None)
    if shape is None or item is None or not callable(item):
        return None
    size = 1
    for dim in shape:
        size *= int(dim)
    if size != 1 or len(shape) > 1:
        return None
    got = item()
    if isinstance(got, float | int) and not isinstance(got, complex):
        return float(got)
    return None


def to_step(tag: str, step: object) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"step for tag {tag!r} must be an int, got {type(step).__name__}: {step!r}")
    result = int(step)
    if result < 0:
        raise ValueError(f"step for tag {tag!r} must be >= 0, got {result}")
    if result > MAX_STEP:
        raise ValueError(f"step for tag {tag!r} must be at most 2**63 - 1, got {result}")
    return result


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def storable(value: Any, path: str = "config") -> Any:
    """A JSON-ready copy of ``value``, or ConfigError naming the first key path that cannot be stored.

    Accepted: None, bool, int, float (NaN and infinities included), str, lists/tuples, mappings
    with str keys, numpy scalars and arrays (as lists), paths (as str) and enums (their value).
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{path}: keys must be str, got {type(key).__name__} key {key!r}")
            out[key] = storable(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [storable(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return storable(value.value, path)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and hasattr(value, "dtype"):
        return storable(tolist(), path)
    raise ConfigError(
        f"{path}: cannot store a value of type {type(value).__name__} ({_short(value)}); "
        "use numbers, strings, booleans, None, lists or dicts"
    )


def is_finite(value: float) -> bool:
    return math.isfinite(value)
