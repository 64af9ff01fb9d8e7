"""The ``Executor`` interface and ``get_executor`` (executor names to instances).

An executor runs one config: ``run(fn, config, result_path) -> record``. ``fn`` is the task
the runner built (it records the run and writes ``result_path`` itself); a custom executor only
decides *where* ``fn(config)`` is called. The runner calls ``run`` from up to ``max_parallel``
threads at once (``1`` keeps everything in the calling thread) and calls ``interrupt`` on
Ctrl-C to stop work in flight.
"""

from __future__ import annotations

import contextlib
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from labtrack.errors import ExecutorError, UnknownExecutorError
from labtrack.runner.config import Config

ExecutorName = Literal["inline", "subprocess", "fork", "ray"]
EXECUTOR_NAMES: tuple[str, ...] = ("inline", "subprocess", "fork", "ray")


class Executor(ABC):
    """Base class of execution strategies.

    >>> class MyExecutor(Executor):
    ...     def run(self, fn, config, result_path):
    ...         return fn(config)

    Attributes:
        max_parallel: configs this executor may run at once; ``None`` means the runner's
            ``max_workers`` (``-j``, default the number of cores), ``1`` means one at a time
            in the calling thread.
    """

    max_parallel: int | None = 1

    @abstractmethod
    def run(self, fn: Callable[[Config], Any], config: Config, result_path: Path) -> Any:
        """Run ``fn(config)``; return its record (or None to read ``result_path``)."""

    def interrupt(self) -> None:  # noqa: B027 - optional hook
        """Stop work in flight (Ctrl-C); the default does nothing."""

    def prepare(self, store: Path) -> None:  # noqa: B027 - optional hook
        """Called once per sweep, before any config runs, with the store the configs' runs
        go into (an executor on other machines makes it reachable there); the default does
        nothing."""

    def guard(self) -> contextlib.AbstractContextManager[Any]:
        """Held by the runner while it prints or reads results in other threads.

        An executor that forks returns a lock it also holds while forking, so that no other
        thread holds an import or stream lock at that moment (a child would deadlock on it).
        """
        return contextlib.nullcontext()


def get_executor(executor: str | Executor | None = None) -> Executor:
    """An executor instance from a name, or ``executor`` itself if it already is one.

    >>> type(get_executor("inline")).__name__
    'InlineExecutor'

    Names: ``inline``, ``subprocess`` (the default), ``fork`` (Unix), ``ray`` (local Ray),
    ``ray://host:port`` (Ray client), ``ray:auto`` / ``ray:<address>`` (existing cluster).

    Raises:
        UnknownExecutorError: (a ``ValueError``) an unknown name (the message lists the valid
            ones); ExecutorError, or ``fork`` where
            the platform has no ``fork``.
    """
    if isinstance(executor, Executor):
        return executor
    if executor is None:
        executor = "subprocess"
    if not isinstance(executor, str):
        raise ExecutorError(
            f"executor must be a name or an Executor instance, got {type(executor).__name__}"
        )
    if executor == "inline":
        from labtrack.runner.executors.inline import InlineExecutor

        return InlineExecutor()
    if executor == "subprocess":
        from labtrack.runner.executors.subprocess import SubprocessExecutor

        return SubprocessExecutor()
    if executor == "fork":
        if sys.platform == "win32":
            raise ExecutorError("the 'fork' executor needs a Unix platform; use 'subprocess'")
        from labtrack.runner.executors.fork import ForkExecutor

        return ForkExecutor()
    if executor == "ray" or executor.startswith(("ray:", "ray://")):
        from labtrack.runner.executors.ray import RayExecutor

        if executor == "ray":
            return RayExecutor()
        address = executor if executor.startswith("ray://") else executor[len("ray:") :]
        if not address:
            raise ExecutorError("executor 'ray:' needs an address, e.g. 'ray:auto'")
        return RayExecutor(address=address)
    raise UnknownExecutorError(
        f"unknown executor {executor!r}; valid: {', '.join(EXECUTOR_NAMES)}, "
        "'ray://host:port', 'ray:auto', or an Executor instance"
    )
