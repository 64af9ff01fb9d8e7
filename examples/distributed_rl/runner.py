"""``run_training``: console logging, setup, the loop, and a cleanup that always runs.

Exit paths: the loop's own stop conditions, a stop request (SIGINT/Ctrl-C, SIGTERM, or a
``STOP`` file in the run directory) end with a final checkpoint and return 0. An exception is
logged, sent as an ``Error/Fatal`` event, recorded as the labtrack run's error (status
``failed``) and returns 1. Either way the tracker gets a final ``force_process_and_log`` and
``shutdown``, the detached tracker actor is killed, and Ray is shut down if setup started it.
A second Ctrl-C interrupts at once (the run then reads as crashed and resumes next time).
"""

from __future__ import annotations

import logging
import signal
import sys
import types
from collections.abc import Callable
from typing import Any

from .components import TrainingComponents
from .config import APP_NAME, RunContext
from .logging_utils import log_configs_to_mlflow
from .loop import TrainingLoop
from .setup import setup_training_components

log = logging.getLogger(__name__)

Handler = Callable[[int, types.FrameType | None], Any] | int | None


def setup_console_logging(level: int = logging.INFO) -> None:
    """Timestamped lines on stderr for the pipeline's loggers (Ray's stay quiet)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("examples.distributed_rl")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def _install_stop_handlers(loop: TrainingLoop) -> dict[int, Handler]:
    previous: dict[int, Handler] = {}

    def handler(signum: int, frame: types.FrameType | None) -> None:
        name = signal.Signals(signum).name
        if loop.stop_requested.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning("%s received: stopping after this iteration (again to interrupt)", name)
        loop.request_stop(name)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _finish_tracker(c: TrainingComponents, step: int, error: BaseException | None) -> None:
    import ray

    actor = c.tracker_actor
    if actor is None:
        return
    try:
        if error is not None:
            actor.log_event.remote(_fatal_event(step, error))
        ray.get(actor.force_process_and_log.remote(step), timeout=120)
        ray.get(actor.shutdown.remote(), timeout=120)
    except Exception:
        log.exception("tracker shutdown failed")
    finally:
        ray.kill(actor)  # detached: it would otherwise outlive this driver
    if error is not None and c.run_base_dir is not None:
        _record_failure(c, error)


def _fatal_event(step: int, error: BaseException) -> Any:
    from labtrack.tracker import RawMetricEvent

    context = {"type": type(error).__name__, "message": str(error)[:500]}
    return RawMetricEvent(name="Error/Fatal", value=1.0, global_step=step, context=context)


def _record_failure(c: TrainingComponents, error: BaseException) -> None:
    """Mark the labtrack run failed, with the error (the tracker finished it as completed)."""
    # (lazily exported: mypy does not see it yet, STYLE.md debt 3)
    from labtrack import start_run  # type: ignore[attr-defined]

    run = start_run(APP_NAME, name=c.run_context.run_name, run_dir=c.run_base_dir)
    run.finish("failed", error=error)


def run_training(run_context: RunContext) -> int:
    """Run (or resume) the pipeline; 0 on success, 1 on failure (see the module docstring)."""
    import ray

    setup_console_logging()
    components, has_checkpoint = setup_training_components(run_context)
    if components is None:
        if ray.is_initialized():
            ray.shutdown()
        return 1
    loop: TrainingLoop | None = None
    previous: dict[int, Handler] = {}
    error: BaseException | None = None
    try:
        loop = TrainingLoop(components)
        previous = _install_stop_handlers(loop)
        log.info(
            "run %r in %s (%d workers)",
            run_context.run_name,
            components.run_base_dir or "(tracking off)",
            components.num_workers,
        )
        log_configs_to_mlflow(components)
        if has_checkpoint and not loop.load_state():
            log.warning("the run has checkpoint files but none is readable: starting fresh")
        loop.run()
        return 0
    except BaseException as exc:
        error = exc
        log.exception("training failed")
        return 1
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _finish_tracker(components, loop.global_step if loop else 0, error)
        if components.ray_started_here and ray.is_initialized():
            ray.shutdown()
        log.info("done: %s", "failed" if error is not None else (loop.stop_reason if loop else ""))
