"""``RayExecutor``: each config as a Ray task, local or on a cluster.

Ray is imported on first use. If Ray is already initialised (by the user or an earlier run)
that session is used as is; otherwise ``ray.init(address=..., runtime_env=...)`` is called and
left running (Ray sessions are expensive to restart).

Placement: Ray's task options (``num_cpus``, ``num_gpus``, ``resources``, ``runtime_env``,
``scheduling_strategy``, ``max_retries``) apply to every config, and a config's own ``_ray``
mapping overrides them for that config (``{"_ray": {"num_gpus": 1}}``; it is part of the config,
so of its hash). Unknown option names raise ``ValueError`` naming them, before that config's
task is submitted.

No shared file system is needed: the driver serves its store to the cluster
(:func:`labtrack.serve_store`), so a config's run, logged on any node, is written into the
driver's store as it is logged; when the task ends, the other files of its run directory
(``result.pkl``, captured output, what the config wrote under ``config.out``) are sent there too.
The record also comes back through Ray, and the driver writes ``result.pkl`` if it is missing.
"""

from __future__ import annotations

import contextlib
import logging
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

#: The Ray task options an executor or a config's ``_ray`` key may set.
TASK_OPTIONS = frozenset(
    {"num_cpus", "num_gpus", "resources", "runtime_env", "scheduling_strategy", "max_retries"}
)
#: The config key holding a config's own task options.
RAY_KEY = "_ray"


def _ray_entry(fn: Callable[..., Any], config: Config) -> Any:
    try:
        if isinstance(fn, ConfigTask):
            return fn(config, capture_exit=False)  # Ray owns the worker's signal handlers
        return fn(config)
    finally:
        if "out" in config:
            _send_back(Path(config["out"]))


def _send_back(out: Path) -> None:
    """Send the run directory's files to the store's node (nothing to do on that node itself).
    The record travels back through Ray anyway, so a failure here is reported, not raised."""
    from labtrack.cluster import send_folder

    try:
        send_folder(out)
    except Exception:  # a boundary: the config's outcome must not depend on it
        logging.getLogger("labtrack").exception("cannot send the files of %s to the store", out)


def _checked_options(options: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(options, Mapping):
        raise ValueError(f"{where} must be a mapping of Ray task options, got {options!r}")
    unknown = sorted(set(options) - TASK_OPTIONS)
    if unknown:
        raise ValueError(
            f"{where} has unknown Ray task option(s) {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(sorted(TASK_OPTIONS))}"
        )
    return dict(options)


class RayExecutor(Executor):
    """Run configs as Ray tasks.

    >>> executor = RayExecutor(address="ray://cluster:10001", runtime_env={"working_dir": "."},
    ...                        num_cpus=4, num_gpus=1)

    Args:
        address: ``None`` for a local Ray (or the one already running), ``"auto"`` for an
            existing cluster, ``"ray://host:port"`` for Ray client.
        runtime_env: Ray runtime environment (``working_dir``, ``excludes``, ``pip``, ...): the
            job's when this executor starts Ray, else each task's.
        num_cpus: CPUs each config's task reserves.
        num_gpus: GPUs each config's task reserves.
        resources: custom resources each task needs (``{"tpu_host": 1}``), to reach tagged nodes.
        scheduling_strategy: Ray's (``"SPREAD"``, a ``NodeAffinitySchedulingStrategy``, ...).
        max_retries: times Ray reruns a task whose worker died (default 0: a crash is reported).
        init_kwargs: more arguments for ``ray.init``.

    A config's ``_ray`` mapping overrides any of these task options for that config.
    """

    max_parallel = 1024  # threads only wait on Ray; Ray itself schedules the tasks

    def __init__(
        self,
        address: str | None = None,
        runtime_env: Mapping[str, Any] | None = None,
        num_cpus: float = 1,
        num_gpus: float = 0,
        init_kwargs: Mapping[str, Any] | None = None,
        *,
        resources: Mapping[str, float] | None = None,
        scheduling_strategy: Any = None,
        max_retries: int = 0,
    ) -> None:
        self.address = address
        self.runtime_env = dict(runtime_env) if runtime_env else None
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.resources = dict(resources) if resources else None
        self.scheduling_strategy = scheduling_strategy
        self.max_retries = max_retries
        self.init_kwargs = dict(init_kwargs or {})
        self._lock = threading.Lock()
        self._remote: Any = None
        self._task_env: dict[str, Any] | None = None  # runtime_env per task (Ray was running)
        self._served: set[Path] = set()
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
                else:
                    self._task_env = self.runtime_env
                self._remote = ray.remote(_ray_entry)
        return ray

    def task_options(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The Ray options of ``config``'s task: this executor's, then its ``_ray`` key's."""
        options: dict[str, Any] = {
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
            "max_retries": self.max_retries,
        }
        if self.resources:
            options["resources"] = self.resources
        if self.scheduling_strategy is not None:
            options["scheduling_strategy"] = self.scheduling_strategy
        if self._task_env:
            options["runtime_env"] = self._task_env
        own = config.get(RAY_KEY)
        if own is not None:
            options.update(_checked_options(own, f"config key {RAY_KEY!r}"))
        return options

    def prepare(self, store: Path) -> None:
        """Serve the sweep's store to the Ray cluster (:func:`labtrack.serve_store`), so that
        no node needs to see the driver's disk."""
        self._ensure_ray()
        if store in self._served:
            return
        from labtrack.cluster import serve_store

        serve_store(store)
        self._served.add(store)

    def run(self, fn: Callable[[Config], Any], config: Config, result_path: Path) -> Any:
        if self._interrupted:
            return None
        options = self.task_options(config)  # bad options raise before anything runs
        ray = self._ensure_ray()
        ref = self._remote.options(**options).remote(fn, config)
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
