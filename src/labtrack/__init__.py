"""labtrack: run, record and show machine-learning experiments over one embedded store.

Four entry points, one per job::

    import labtrack

    with labtrack.start_run("mnist", config={"lr": 0.01}) as run:   # record
        run.log({"loss": 0.5}, step=0)

    @labtrack.experiment                                               # run sweeps
    def train(config): ...

    labtrack.Store("out").runs(where={"config.lr": 0.01})              # read

    $ labtrack ui out                                                  # look

Every public name is resolved lazily on first access (module ``__getattr__``), so
``import labtrack`` loads nothing heavy: no numpy, no Ray, no MLflow, no web server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it (relative to this package)
_LAZY: dict[str, str] = {
    # recording and reading (core)
    "Run": "._run",
    "start_run": "._run",
    "current_run": "._run",
    "Logger": ".logger",
    "LogReader": ".logger",
    "Store": ".store",
    "RunView": ".store",
    # a store served to every node of a Ray cluster
    "serve_store": ".cluster",
    # errors
    "LabtrackError": ".errors",
    "ConfigError": ".errors",
    "StoreError": ".errors",
    "RunLockedError": ".errors",
    "UnreadableRunError": ".errors",
    "SinkError": ".errors",
    "ExecutorError": ".errors",
    "SerializationError": ".errors",
    "MissingExtraError": ".errors",
    "DataLossError": ".errors",
    "ConfigKeyError": ".errors",
    "UnknownTypeError": ".errors",
    "UnknownExecutorError": ".errors",
    "RegistryError": ".errors",
    "BuildTypeError": ".errors",
    # experiment runner
    "experiment": ".runner",
    "Experiment": ".runner",
    "Config": ".runner",
    "Tensor": ".runner",
    "ConfigTensor": ".runner",
    "ResultTensor": ".runner",
    "Result": ".runner",
    "stash": ".runner",
    "load_config": ".runner",
    "merge": ".runner",
    "sweep": ".runner",
    "register": ".runner",
    "build": ".runner",
    "get_executor": ".runner",
    "Executor": ".runner",
    "ExecutorName": ".runner",
    "InlineExecutor": ".runner",
    "SubprocessExecutor": ".runner",
    "ForkExecutor": ".runner",
    "RayExecutor": ".runner",
    # distributed statistics and training-state persistence
    "Tracker": ".tracker",
    "TrackerClient": ".tracker",
    "TrackerActor": ".tracker",
    "TrackerConfig": ".tracker",
    "PersistenceConfig": ".tracker",
    "StatsConfig": ".tracker",
    "MetricConfig": ".tracker",
    "RawMetricEvent": ".tracker",
    "CheckpointData": ".tracker",
    "BufferData": ".tracker",
    "LoadedTrainingState": ".tracker",
    "DEFAULT_METRICS": ".tracker",
    "TrieyeConfig": ".tracker",
    "TrieyeActor": ".tracker",
}

__all__ = sorted([*_LAZY, "__version__"])

# sub-packages reachable as attributes (``labtrack.store.open_run``) without an explicit import
_SUBMODULES = frozenset(
    {
        "cli",
        "errors",
        "importers",
        "integrations",
        "logger",
        "media",
        "runner",
        "sinks",
        "store",
        "tracker",
        "tracking",
        "viewer",
    }
)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None and name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if module is None:
        raise AttributeError(f"module 'labtrack' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ._run import Run, current_run, start_run
    from .cluster import serve_store
    from .errors import (
        BuildTypeError,
        ConfigError,
        ConfigKeyError,
        DataLossError,
        ExecutorError,
        LabtrackError,
        MissingExtraError,
        RegistryError,
        RunLockedError,
        SerializationError,
        SinkError,
        StoreError,
        UnknownExecutorError,
        UnknownTypeError,
        UnreadableRunError,
    )
    from .logger import Logger, LogReader
    from .runner import (
        Config,
        ConfigTensor,
        Executor,
        ExecutorName,
        Experiment,
        ForkExecutor,
        InlineExecutor,
        RayExecutor,
        Result,
        ResultTensor,
        SubprocessExecutor,
        Tensor,
        build,
        get_executor,
        load_config,
        merge,
        register,
    )
    from .runner.experiment import experiment
    from .runner.stash import stash
    from .runner.sweep import sweep
    from .store import RunView, Store
    from .tracker import (
        DEFAULT_METRICS,
        BufferData,
        CheckpointData,
        LoadedTrainingState,
        MetricConfig,
        PersistenceConfig,
        RawMetricEvent,
        StatsConfig,
        Tracker,
        TrackerClient,
        TrackerConfig,
        TrieyeConfig,
    )

    TrackerActor: Any  # a Ray actor class: Ray is imported when it is first looked up
    TrieyeActor: Any
