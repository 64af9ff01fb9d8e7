"""Find a sink class by name, importing only the module of the sink asked for."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from ..errors import ConfigError
from ._base import Sink

_BUILTIN: dict[str, str] = {
    "aim": "labtrack.sinks._aim:AimSink",
    "console": "labtrack.sinks._console:ConsoleSink",
    "memory": "labtrack.sinks._memory:MemorySink",
    "mlflow": "labtrack.sinks._mlflow:MlflowSink",
    "tensorboard": "labtrack.sinks._tensorboard:TensorBoardSink",
}
ENTRY_POINT_GROUP = "labtrack.sinks"


def available_sinks() -> list[str]:
    """Names :func:`create_sink` accepts: the built-in sinks and registered third-party ones."""
    return sorted({*_BUILTIN, *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))})


def sink_class(name: str) -> type[Sink]:
    """The class registered as ``name`` (its module is imported now, not before)."""
    target = _BUILTIN.get(name)
    if target is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not found:
            raise ConfigError(f"unknown sink {name!r}; valid: {', '.join(available_sinks())}")
        cls = found[0].load()
    else:
        module, _, attr = target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Sink)):
        raise ConfigError(f"sink {name!r} resolves to {cls!r}, which is not a Sink subclass")
    return cls


def create_sink(name: str, **options: Any) -> Sink:
    """An instance of the sink named ``name``, built with ``options``."""
    return sink_class(name)(**options)
