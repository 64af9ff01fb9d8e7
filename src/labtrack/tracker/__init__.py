"""Distributed statistics and training-state persistence.

Owns: the event aggregation rules (plain Python, ``aggregation``), the in-process
:class:`Tracker`, its Ray actor form ``TrackerActor``, the worker-side batching
:class:`TrackerClient`, and checkpoint/buffer persistence with auto-resume.

May import: ``labtrack.store`` (through ``labtrack._run``), ``labtrack.sinks``, ``labtrack.errors``.
Never ``runner`` or ``viewer``. Ray is imported only when ``TrackerActor`` is first looked up
(module ``__getattr__``) or a client connects, so ``import labtrack.tracker`` stays light.

::

    from labtrack import TrackerActor, TrackerConfig, RawMetricEvent

    actor = TrackerActor.options(name="tracker", lifetime="detached").remote(
        config=TrackerConfig(app_name="my_rl_app"))
    actor.log_event.remote(RawMetricEvent(name="Loss/Total", value=0.1, global_step=1))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .client import TrackerClient
from .config import (
    DEFAULT_METRICS,
    MetricConfig,
    PersistenceConfig,
    StatsConfig,
    TrackerConfig,
    TrieyeConfig,
)
from .schemas import BufferData, CheckpointData, LoadedTrainingState, RawMetricEvent
from .tracker import Tracker

if TYPE_CHECKING:  # pragma: no cover
    TrackerActor: Any
    TrieyeActor: Any

__all__ = [
    "DEFAULT_METRICS",
    "BufferData",
    "CheckpointData",
    "LoadedTrainingState",
    "MetricConfig",
    "PersistenceConfig",
    "RawMetricEvent",
    "StatsConfig",
    "Tracker",
    "TrackerActor",
    "TrackerClient",
    "TrackerConfig",
    "TrieyeActor",
    "TrieyeConfig",
]


def __getattr__(name: str) -> Any:
    if name in ("TrackerActor", "TrieyeActor"):  # TrieyeActor: trieye's name, the same class
        from .actor import actor_class

        value = actor_class()
        globals()[name] = value
        return value
    raise AttributeError(f"module 'labtrack.tracker' has no attribute {name!r}")
