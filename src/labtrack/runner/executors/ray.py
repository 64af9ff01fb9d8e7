"""``RayExecutor``: each config as a Ray task, local or on a cluster.

Ray is imported on first use. If Ray is already initialised (by the user or an earlier run)
that session is used as is; otherwise ``ray.init(address=..., runtime_env=...)`` is called and
left running (Ray sessions are expensive to restart). ``num_cpus``/``num_gpus`` are the
resources each config's task asks for; Ray decides where and how many run at once.

The worker writes ``result.pkl`` into the run directory; the record also comes back through
Ray, and the driver writes it if the worker's filesystem is not the driver's.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from labtrack.errors import require
from labtrack.runner import cache
from labtrack.runner.config import Config
from labtrack.runner.executors._process import collect
from labtrack.runner.executors.base import Executor
from labtrack.runner.task import ConfigTask


def _ray_entry(fn: Callable[..., Any], config: Config) -> Any:
    if isinstance(fn, ConfigTask):
        return fn(config, capture_exit=False)  # Ray owns the worker's signal handlers
    return fn(config)


class RayExecutor(Executor):
    """Run configs as Ray tasks.

    >>> executor = RayExecutor(address="ray://cluster:10001", runtime_env={"working_dir": "."},
    ...                        num_cpus=4, num_gpus=1)

    Args:
        address: ``None`` for a local Ray (or the one already running), ``"auto"`` for an
            existing cluster, ``"ray://host:port"`` for Ray client.
        runtime_env: Ray runtime environment (``working_dir``, ``excludes``, ``pip``, ...).
        num_cpus: CPUs each config's task reserves.
        num_gpus: GPUs each config's task reserves.
        init_kwargs: more arguments for ``ray.init``.
    """

    max_parallel = 1024  # threads only wait on Ray; Ray itself schedules the tasks

    def __init__(
        self,
        address: str | None = None,
        runtime_env: Mapping[str, Any] | None = None,
        num_cpus: float = 1,
        num_gpus: float = 0,
        init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.address = address
        self.runtime_env = dict(runtime_env) if runtime_env else None
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.init_kwargs = dict(init_kwargs or {})
        self._lock = threading.Lock()
        self._remote: Any = None
        self._refs: set[Any] = set()
        self._interrupted = False

    def __repr__(self) -> str:
        return (
            f"RayExecutor(address={self.address!r}, num_cpus={self.num_cpus}, "
            f"num_gpus={self.num_gpus})"
        )

    def _ensure_ray(self) -> Any:
        ray: Any = require("ray", "ray", "the 'ray' executor")
        with self._lock:
            if self._remote is None:
                if not ray.is_initialized():
                    kwargs: dict[str, Any] = {"ignore_reinit_error": True, **self.init_kwargs}
                    if self.runtime_env:
                        kwargs["runtime_env"] = self.runtime_env
                    ray.init(address=self.address, **kwargs)
                self._remote = ray.remote(_ray_entry).options(
                    num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=0
                )
        return ray

    def run(self, fn: Callable[[Config], Any], config: Config, result_path: Path) -> Any:
        if self._interrupted:
            return None
        ray = self._ensure_ray()
        ref = self._remote.remote(fn, config)
        with self._lock:
            self._refs.add(ref)
        try:
            record = ray.get(ref)
        except ray.exceptions.RayError as exc:
            if self._interrupted or isinstance(exc, ray.exceptions.TaskCancelledError):
                return collect(fn, config, result_path, "cancelled", True)
            how = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            return collect(fn, config, result_path, how, False)
        finally:
            with self._lock:
                self._refs.discard(ref)
        if not result_path.exists():
            cache.write_result(result_path, record)
        return record

    def interrupt(self) -> None:
        """Cancel every task in flight (force: their workers are killed)."""
        self._interrupted = True
        if self._remote is None:
            return
        import ray

        with self._lock:
            refs = list(self._refs)
        for ref in refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
