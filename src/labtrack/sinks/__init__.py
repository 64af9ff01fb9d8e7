"""Sinks: mirrors of a run's metrics, params and artifacts into other tools.

Owns the small :class:`Sink` interface, one module per backend (MLflow, TensorBoard, console),
an in-memory sink for tests, and :class:`GuardedSink`, the one boundary where a failing mirror
is reported and retried instead of raising. Backends are found by name when first used
(:func:`create_sink`); third-party ones register under the ``labtrack.sinks`` entry-point group.

May import: ``labtrack.errors``, ``labtrack.store``. Never ``labtrack.tracker``.
Heavy packages (mlflow, tensorboardX, rich) are imported inside the backend's ``open``.

::

    from labtrack.sinks import SinkRun, create_sink

    sink = create_sink("tensorboard", log_dir="tb")
    sink.open(SinkRun(experiment="app", name="run1", run_dir=Path("out/run1")))
    sink.log_metrics({"loss": 0.5}, step=1)
    sink.close()
"""

from __future__ import annotations

from ._base import Sink, SinkRun
from ._guard import GuardedSink
from ._memory import MemorySink
from ._registry import available_sinks, create_sink, sink_class

__all__ = [
    "GuardedSink",
    "MemorySink",
    "Sink",
    "SinkRun",
    "available_sinks",
    "create_sink",
    "sink_class",
]
