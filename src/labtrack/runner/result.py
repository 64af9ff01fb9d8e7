"""``Result``: one config's outcome, readable the seed's way and pyexp's way.

The seed reads results as dicts (``r["name"]``, ``r["accuracy"]``, ``r.get("__error__")``);
pyexp reads attributes (``r.result``, ``r.error``, ``r.log``, ``r.config``). A ``Result`` is a
``dict`` holding the seed's keys, with pyexp's attributes computed from them, so both kinds of
report code run on the same object. It pickles as the dict it is (``result.pkl`` files written
before ``Result`` existed load as plain dicts and are wrapped when read).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Keys of a record that are not the experiment's own outputs.
_BOOK_KEEPING = frozenset(
    {"name", "config", "__error__", "type", "message", "traceback", "attempts", "tries"}
)


class Result(dict[str, Any]):
    """The record of one config: ``name``, ``config`` and the experiment's outputs.

    >>> r = Result({"name": "fast", "config": {"lr": 0.1}, "accuracy": 0.9})
    >>> r["accuracy"], r.result, r.error, r
    (0.9, {'accuracy': 0.9}, None, Result('fast', ok))
    >>> Result({"name": "x", "config": {}, "result": 3, "value": 3}).result
    3

    A failed config has ``__error__``, ``type``, ``message`` and ``traceback`` keys;
    ``error`` is then ``"Type: message"`` (``None`` when it succeeded). A non-dict return
    value is under ``result`` (and ``value``). ``log`` is what the config printed, ``out``
    its run directory.
    """

    __slots__ = ()

    @property
    def name(self) -> str | None:
        """The combined config name (``exp_lr0.1_e10``)."""
        value = self.get("name")
        return None if value is None else str(value)

    @property
    def config(self) -> Mapping[str, Any]:
        """The full config, ``out`` included."""
        value = self.get("config")
        return value if isinstance(value, Mapping) else {}

    @property
    def ok(self) -> bool:
        """True when the config completed."""
        return not self.get("__error__")

    @property
    def error(self) -> str | None:
        """``"Type: message"`` of a failed config, else None."""
        if self.ok:
            return None
        return f"{self.get('type')}: {self.get('message')}"

    @property
    def result(self) -> Any:
        """What the experiment returned: its dict of outputs, or the non-dict value itself."""
        if not self.ok:
            return None
        outputs = {k: v for k, v in self.items() if k not in _BOOK_KEEPING}
        if set(outputs) == {"result", "value"}:  # a non-dict return value (see task.py)
            return outputs["result"]
        return outputs

    @property
    def out(self) -> Path | None:
        """The config's run directory (``result.pkl``, ``stdout.log``, your artifacts)."""
        value = self.config.get("out")
        return None if value is None else Path(value)

    @property
    def log(self) -> str:
        """What the config printed (``stdout.log`` then ``stderr.log``; "" when not captured)."""
        out = self.out
        if out is None:
            return ""
        parts = []
        for file in ("stdout.log", "stderr.log"):
            try:
                parts.append((out / file).read_text(encoding="utf-8", errors="replace"))
            except OSError:
                continue
        return "".join(parts)

    def __getattr__(self, key: str) -> Any:
        # pyexp results also read outputs as attributes (``r.accuracy``)
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(
                f"result {self.get('name')!r} has no key {key!r} (keys: {', '.join(self)})"
            ) from None

    def __repr__(self) -> str:
        return f"Result({self.get('name')!r}, {'ok' if self.ok else 'error'})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Result, (dict(self),))
