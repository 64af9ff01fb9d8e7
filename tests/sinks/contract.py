"""The contract every sink meets. A backend's tests subclass :class:`SinkContract` and provide
``make_sink`` and ``read_back`` (reading with the backend's own reader)."""

from __future__ import annotations

from pathlib import Path

from labtrack.sinks import Sink, SinkRun, sink_class


class SinkContract:
    """Subclass, then implement ``make_sink`` and ``read_back``."""

    def make_sink(self, tmp_path: Path) -> Sink:
        raise NotImplementedError

    def read_back(self, sink: Sink, tmp_path: Path) -> dict[str, list[tuple[int, float]]]:
        """``{key: [(step, value), ...]}`` as the backend's own reader returns it, after close."""
        raise NotImplementedError

    def run_info(self, tmp_path: Path) -> SinkRun:
        return SinkRun(experiment="contract", name="run-1", run_dir=tmp_path / "run")

    def test_metrics_round_trip(self, tmp_path: Path) -> None:
        sink = self.make_sink(tmp_path)
        sink.open(self.run_info(tmp_path))
        sink.log_metrics({"Loss/Total": 0.5, "acc": 1.0}, step=1)
        sink.log_metrics({"Loss/Total": 0.25}, step=2, wall_time=1_700_000_000.0)
        sink.close()
        got = self.read_back(sink, tmp_path)
        assert got["Loss/Total"] == [(1, 0.5), (2, 0.25)]
        assert got["acc"] == [(1, 1.0)]

    def test_params_and_artifacts_are_accepted(self, tmp_path: Path) -> None:
        artifact = tmp_path / "configs.json"
        artifact.write_text("{}")
        sink = self.make_sink(tmp_path)
        sink.open(self.run_info(tmp_path))
        sink.log_params({"lr": 0.01, "app_name": "x"})
        sink.log_artifact(artifact, name="configs")
        sink.close()

    def test_close_twice_is_harmless(self, tmp_path: Path) -> None:
        sink = self.make_sink(tmp_path)
        sink.open(self.run_info(tmp_path))
        sink.close()
        sink.close()

    def test_found_by_its_name(self, tmp_path: Path) -> None:
        sink = self.make_sink(tmp_path)
        assert sink_class(sink.name) is type(sink)

    def test_logging_before_open_raises_or_records(self, tmp_path: Path) -> None:
        # Either outcome is allowed, but never a silent crash of the interpreter: GuardedSink
        # relies on exceptions being ordinary Python exceptions.
        sink = self.make_sink(tmp_path)
        error: Exception | None = None
        try:
            sink.log_metrics({"x": 1.0}, step=0)
        except Exception as exc:
            error = exc
        assert error is None or "open" in str(error)
