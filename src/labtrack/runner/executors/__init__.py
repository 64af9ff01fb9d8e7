"""Execution strategies: where and how one config's function is called.

``base`` holds the ``Executor`` interface and ``get_executor``; one module per strategy.
Ray is imported only inside ``ray.py`` functions.
"""

from __future__ import annotations

from labtrack.runner.executors.base import EXECUTOR_NAMES, Executor, ExecutorName, get_executor
from labtrack.runner.executors.fork import ForkExecutor
from labtrack.runner.executors.inline import InlineExecutor
from labtrack.runner.executors.ray import RayExecutor
from labtrack.runner.executors.subprocess import SubprocessExecutor

__all__ = [
    "EXECUTOR_NAMES",
    "Executor",
    "ExecutorName",
    "ForkExecutor",
    "InlineExecutor",
    "RayExecutor",
    "SubprocessExecutor",
    "get_executor",
]
