from __future__ import annotations

from pathlib import Path

from labtrack.sinks import MemorySink, Sink

from .contract import SinkContract


class TestMemorySink(SinkContract):
    def make_sink(self, tmp_path: Path) -> Sink:
        return MemorySink()

    def read_back(self, sink: Sink, tmp_path: Path) -> dict[str, list[tuple[int, float]]]:
        assert isinstance(sink, MemorySink)
        return {key: sink.series(key) for key, *_ in sink.metrics}

    def test_records_params_and_artifacts(self, tmp_path: Path) -> None:
        sink = MemorySink()
        run = self.run_info(tmp_path)
        assert sink.open(run) == "memory-run-1"
        sink.log_params({"lr": 0.1})
        sink.log_artifact(tmp_path / "a.pkl", name="checkpoints")
        assert sink.params == {"lr": 0.1}
        assert sink.artifacts == [(tmp_path / "a.pkl", "checkpoints")]
