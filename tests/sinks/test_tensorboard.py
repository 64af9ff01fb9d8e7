from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labtrack.sinks import Sink, create_sink

from .contract import SinkContract

pytest.importorskip("tensorboardX")


def read_scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


class TestTensorBoardSink(SinkContract):
    def make_sink(self, tmp_path: Path) -> Sink:
        return create_sink("tensorboard", log_dir=tmp_path / "tb")

    def read_back(self, sink: Sink, tmp_path: Path) -> dict[str, list[tuple[int, float]]]:
        return read_scalars(tmp_path / "tb")

    def test_values_read_back_exactly_as_float32(self, tmp_path: Path) -> None:
        values = [0.1, 1 / 3, 123456.789, -2.5e-7]
        sink = self.make_sink(tmp_path)
        sink.open(self.run_info(tmp_path))
        for step, v in enumerate(values):
            sink.log_metrics({"x": v}, step=step * 10, wall_time=1_700_000_000.0 + step)
        sink.close()
        got = read_scalars(tmp_path / "tb")["x"]
        assert got == [(i * 10, float(np.float32(v))) for i, v in enumerate(values)]

    def test_default_folder_is_inside_the_run(self, tmp_path: Path) -> None:
        sink = create_sink("tensorboard")
        run = self.run_info(tmp_path)
        sink.open(run)
        sink.log_metrics({"y": 2.0}, step=3)
        sink.close()
        assert read_scalars(run.run_dir / "tensorboard") == {"y": [(3, 2.0)]}
