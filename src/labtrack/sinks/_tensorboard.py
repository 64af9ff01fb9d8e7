"""TensorBoard mirror: event files written with tensorboardX, read by TensorBoard itself.

Scalars are stored as TensorBoard stores them (``simple_value``, float32). Params become one
Markdown text summary (``params``); artifacts are not TensorBoard's business and are ignored.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import SinkError, require
from ._base import Sink, SinkRun


class TensorBoardSink(Sink):
    """Mirror into TensorBoard event files under ``log_dir`` (default ``<run_dir>/tensorboard``)."""

    name = "tensorboard"

    def __init__(self, log_dir: str | Path | None = None, *, flush_secs: int = 10) -> None:
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.flush_secs = flush_secs
        self._writer: Any = None

    def open(self, run: SinkRun) -> str | None:
        require("tensorboardX", "tensorboard", "The TensorBoard sink")
        from tensorboardX import SummaryWriter

        if self.log_dir is None:
            self.log_dir = run.run_dir / "tensorboard"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._writer = SummaryWriter(logdir=str(self.log_dir), flush_secs=self.flush_secs)
        return None

    def _need(self) -> Any:
        if self._writer is None:
            raise SinkError("TensorBoardSink used before open()")
        return self._writer

    def log_metrics(
        self, metrics: Mapping[str, float], *, step: int, wall_time: float | None = None
    ) -> None:
        writer = self._need()
        t = time.time() if wall_time is None else wall_time
        for key, value in metrics.items():
            writer.add_scalar(key, float(value), global_step=int(step), walltime=t)

    def log_params(self, params: Mapping[str, Any]) -> None:
        rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(params.items()))
        self._need().add_text("params", f"| param | value |\n|---|---|\n{rows}", global_step=0)

    def flush(self) -> None:
        """Write buffered events to disk now."""
        self._need().flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = None
