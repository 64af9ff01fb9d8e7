"""The experiment runner: configs, sweeps, a content-addressed cache, executors, results.

Owns ``@experiment``/``Experiment`` (plan, cache, run, report), ``Config``/``load_config``/
``merge`` (config.py), ``sweep`` (sweep.py), ``register``/``build`` (registry.py), ``Tensor``
(tensor.py; ``ConfigTensor``/``ResultTensor`` are pyexp's names for it), ``Result``
(result.py), the git snapshot ``stash`` (stash.py), the cache (cache.py), executors (executors/), the per-config task run in
workers (task.py), CLI options (cli.py) and the progress display (progress.py).

May import: ``labtrack.errors``, ``labtrack._env``, ``labtrack._run`` (every config is a run)
and ``labtrack.store`` (reading run status). Never ``tracker``, ``sinks`` or ``viewer``.
Heavy or optional packages (ray, pandas, rich, yaml, cloudpickle) are imported in functions.
"""

from __future__ import annotations

from labtrack.runner.config import Config, load_config, merge
from labtrack.runner.executors import (
    Executor,
    ExecutorName,
    ForkExecutor,
    InlineExecutor,
    RayExecutor,
    SubprocessExecutor,
    get_executor,
)
from labtrack.runner.experiment import Experiment, experiment
from labtrack.runner.registry import build, register
from labtrack.runner.result import Result
from labtrack.runner.stash import stash
from labtrack.runner.sweep import sweep
from labtrack.runner.tensor import ConfigTensor, ResultTensor, Tensor

__all__ = [
    "Config",
    "ConfigTensor",
    "Executor",
    "ExecutorName",
    "Experiment",
    "ForkExecutor",
    "InlineExecutor",
    "RayExecutor",
    "Result",
    "ResultTensor",
    "SubprocessExecutor",
    "Tensor",
    "build",
    "experiment",
    "get_executor",
    "load_config",
    "merge",
    "register",
    "stash",
    "sweep",
]
