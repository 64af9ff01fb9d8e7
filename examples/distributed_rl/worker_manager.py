"""``WorkerManager``: the pool of ``SelfPlayWorker`` actors and their in-flight episode tasks.

Each worker always has one ``run_episodes`` task in flight. ``collect`` waits (``ray.wait``) for
finished tasks and resubmits them; a task whose worker died (killed process, OOM) raises
``RayActorError`` on ``ray.get``: the worker is replaced by a new actor with the latest
weights, the replacement is counted and logged, and training goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from .components import TrainingComponents
from .self_play import SelfPlayResult, worker_class

log = logging.getLogger(__name__)


class WorkerManager:
    """Creates, feeds and replaces the episode workers."""

    def __init__(self, components: TrainingComponents) -> None:
        self.c = components
        self.workers: dict[int, Any] = {}
        self.generation: dict[int, int] = {}
        self.tasks: dict[Any, int] = {}  # in-flight task ref -> worker id
        self.weights_ref: Any = None
        self.replacements = 0

    # --- lifecycle ---------------------------------------------------------------------
    def start(self, weights_ref: Any) -> None:
        """Create the workers, give them ``weights_ref`` and submit one task each."""
        import ray

        self.weights_ref = weights_ref
        for i in range(self.c.num_workers):
            self._create(i)
        pids = ray.get([w.get_pid.remote() for w in self.workers.values()], timeout=180)
        for i, pid in zip(self.workers, pids, strict=True):
            log.info("worker %d ready (pid %d)", i, pid)
        for i in self.workers:
            self.submit(i)

    def _create(self, i: int) -> None:
        gen = self.generation.get(i, -1) + 1
        self.generation[i] = gen
        ctx = self.c.run_context
        worker = worker_class().remote(
            worker_id=i,
            config=self.c.worker_config,
            seed=ctx.seed * 10_007 + i * 101 + gen * 7_919 + self.replacements,
            tracker_actor_name=self.c.tracker_actor_name,
            run_base_dir=self.c.run_base_dir,
        )
        worker.set_weights.remote(self.weights_ref)
        self.workers[i] = worker

    def submit(self, i: int) -> None:
        ref = self.workers[i].run_episodes.remote()
        self.tasks[ref] = i

    def push_weights(self, weights_ref: Any) -> None:
        """Every worker adopts ``weights_ref`` (one ``ray.put`` of ``(global_step, weights)``)
        before its next task."""
        self.weights_ref = weights_ref
        for worker in self.workers.values():
            worker.set_weights.remote(weights_ref)

    def replace(self, i: int, reason: BaseException) -> None:
        import ray

        self.replacements += 1
        log.warning(
            "worker %d died (%s); replacing it (replacement %d)",
            i,
            type(reason).__name__,
            self.replacements,
        )
        self._create(i)
        pid = ray.get(self.workers[i].get_pid.remote(), timeout=180)
        log.warning("worker %d replaced (new pid %d)", i, pid)
        self.submit(i)

    # --- results -----------------------------------------------------------------------
    def collect(self, timeout: float) -> list[SelfPlayResult]:
        """Finished tasks' results (waits up to ``timeout`` for the first); resubmits them."""
        import ray

        if not self.tasks:
            return []
        refs = list(self.tasks)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        results: list[SelfPlayResult] = []
        for ref in ready:
            i = self.tasks.pop(ref)
            try:
                results.append(ray.get(ref))
            except ray.exceptions.RayActorError as exc:
                self.replace(i, exc)
                continue
            self.submit(i)
        return results

    @property
    def num_active(self) -> int:
        return len(self.workers)

    @property
    def num_pending(self) -> int:
        return len(self.tasks)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Let workers deliver their last events, then end them."""
        import ray

        closing = [w.close.remote() for w in self.workers.values()]
        try:
            ray.get(closing, timeout=timeout)
        except Exception:
            log.warning("a worker did not close cleanly", exc_info=True)
        for worker in self.workers.values():
            ray.kill(worker)
        self.workers.clear()
        self.tasks.clear()
