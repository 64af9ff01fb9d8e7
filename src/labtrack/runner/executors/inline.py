"""``InlineExecutor``: calls the function in the runner's own thread (no isolation)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from labtrack.runner.config import Config
from labtrack.runner.executors.base import Executor


class InlineExecutor(Executor):
    """Run each config in the current process, one after another; for debugging.

    A crash of the function (a segfault, ``os._exit``) ends the whole sweep; exceptions do not.
    """

    max_parallel = 1

    def run(self, fn: Callable[[Config], Any], config: Config, result_path: Path) -> Any:
        return fn(config)
