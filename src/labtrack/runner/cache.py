"""The content-addressed cache: config hashes, run-directory names, result files.

The hash is the SHA-256 of a canonical JSON form of the config without ``name`` and ``out``:
keys sorted, no whitespace, ASCII only, floats in Python's shortest round-trip repr (the same
on every platform and Python 3 version), tuples as lists. Values JSON cannot hold raise a
``ConfigError`` naming the key path, before anything runs.

``result.pkl`` is written whole or not at all (temp file, then rename), so a config is
completed exactly when ``result.pkl`` exists, unpickles, and is not an error record.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import re
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labtrack.errors import ConfigError, SerializationError

RESULT_FILE = "result.pkl"
HASH_LENGTH = 12
_UNSAFE = re.compile(r"[^\w.=+,@-]+")
_EXCLUDED = ("name", "out")


def canonical(config: Mapping[str, Any], *, config_name: str = "") -> str:
    """The canonical JSON text of ``config`` without ``name`` and ``out``."""
    body = {k: v for k, v in config.items() if k not in _EXCLUDED}
    return json.dumps(
        _check(body, config_name, ""),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=True,
    )


def config_hash(config: Mapping[str, Any], *, config_name: str = "") -> str:
    """A short, stable hash of ``config`` (``name`` and ``out`` excluded)."""
    text = canonical(config, config_name=config_name)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:HASH_LENGTH]


def _check(value: Any, config_name: str, path: str) -> Any:
    """Return ``value`` in JSON-ready form or raise naming the key path that cannot be stored."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return {"__float__": repr(value)}  # stable, and distinct from the string "nan"
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(
                    f"config {config_name!r}: key {k!r} under {path or 'the top level'!r} "
                    "is not a string and cannot be stored"
                )
            out[k] = _check(v, config_name, f"{path}.{k}" if path else k)
        return out
    if isinstance(value, (list, tuple)):
        return [_check(v, config_name, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise ConfigError(
        f"config {config_name!r}: value at {path!r} has type {type(value).__name__}, which "
        "cannot be stored (use None, bool, int, float, str, lists and dicts of them)"
    )


def dir_name(name: str, digest: str) -> str:
    """``<config_name>-<hash>`` with characters unsafe in file names replaced by ``_``."""
    safe = _UNSAFE.sub("_", name).strip("._") or "config"
    return f"{safe[:100]}-{digest}"


def write_result(path: Path, record: Any) -> None:
    """Pickle ``record`` (cloudpickle) to ``path`` atomically: temp file, then rename.

    No fsync: a process crash cannot tear a renamed file, and a file torn by a power loss
    fails to unpickle, which :func:`read_result` treats as not done (the config runs again).
    An fsync per config would cost more than the whole runner overhead target.

    Raises:
        SerializationError: the record cannot be pickled (nothing is written).
    """
    import cloudpickle

    try:
        payload = cloudpickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise SerializationError(
            f"result of {path.parent.name!r} cannot be pickled: {type(exc).__name__}: {exc}"
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".result-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_result(path: Path) -> Any | None:
    """The record in ``path``; None when it is missing or corrupt (corrupt also warns)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        warnings.warn(f"cannot read cached result {path}: {exc}; running it again", stacklevel=2)
        return None
    try:
        return pickle.loads(data)
    except Exception as exc:
        warnings.warn(
            f"cached result {path} is corrupt ({type(exc).__name__}: {exc}); running it again",
            stacklevel=2,
        )
        return None


def is_error(record: Any) -> bool:
    """True for the error records that failed configs leave."""
    return isinstance(record, Mapping) and bool(record.get("__error__"))
