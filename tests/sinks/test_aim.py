from __future__ import annotations

from pathlib import Path

import pytest

from labtrack.sinks import Sink, SinkRun, create_sink

from .contract import SinkContract

pytest.importorskip("aim")


def _read_run(repo_path: Path, run_hash: str):  # Aim's own reader
    import aim

    from labtrack.sinks._aim import index_repo

    assert index_repo(repo_path) is None
    run = aim.Repo(str(repo_path)).get_run(run_hash)
    assert run is not None, f"Aim does not list run {run_hash}"
    return run


class TestAimSink(SinkContract):
    def make_sink(self, tmp_path: Path) -> Sink:
        return create_sink("aim", repo_path=tmp_path / "aim")

    def read_back(self, sink: Sink, tmp_path: Path) -> dict[str, list[tuple[int, float]]]:
        run = _read_run(tmp_path / "aim", sink.run_hash)  # type: ignore[attr-defined]
        out = {}
        for metric in run.metrics():
            steps, (values, _, _) = metric.data.items_list()
            out[metric.name] = [(int(s), float(v)) for s, v in zip(steps, values)]
        return out

    def test_run_params_artifacts_and_resume(self, tmp_path: Path) -> None:
        artifact = tmp_path / "latest.pkl"
        artifact.write_bytes(b"checkpoint")
        sink = self.make_sink(tmp_path)
        run_hash = sink.open(self.run_info(tmp_path))
        sink.log_params({"lr": 0.01, "model": {"layers": 2}})
        sink.log_artifact(artifact, name="checkpoints")
        sink.log_metrics({"loss": 1.0}, step=1)
        sink.close()

        # a restarted tracker passes the hash back and continues the same Aim run
        again = self.make_sink(tmp_path)
        run = self.run_info(tmp_path)
        assert again.open(SinkRun(run.experiment, run.name, run.run_dir, resume_id=run_hash)) == (
            run_hash
        )
        again.log_params({"seed": 3})
        again.log_metrics({"loss": 0.5}, step=2)
        again.close()

        got = _read_run(tmp_path / "aim", run_hash)
        assert got.name == "run-1"
        assert got.experiment == "contract"
        assert got["hparams"] == {"lr": 0.01, "model": {"layers": 2}, "seed": 3}
        from aim.storage.context import Context

        steps, (values, _, _) = got.get_metric("loss", Context({})).data.items_list()
        assert list(zip(steps, values)) == [(1, 1.0), (2, 0.5)]
        copied = tmp_path / "aim" / "artifacts" / run_hash / "checkpoints" / "latest.pkl"
        assert copied.read_bytes() == b"checkpoint"


def test_a_broken_aim_mirror_never_loses_the_labtrack_copy(tmp_path: Path, caplog) -> None:
    import labtrack
    from labtrack.tracker import (
        MetricConfig,
        PersistenceConfig,
        RawMetricEvent,
        StatsConfig,
        Tracker,
        TrackerConfig,
    )

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("Aim cannot make its repository here")
    config = TrackerConfig(
        app_name="app",
        run_name="r1",
        persistence=PersistenceConfig(ROOT_DATA_DIR=str(tmp_path / "data")),
        stats=StatsConfig(
            processing_interval_seconds=0.05,
            metrics=[MetricConfig(name="loss", aggregation="mean", log_frequency_steps=1)],
        ),
    )
    # opening the Aim run fails (its repository cannot be made): the tracker goes on without it
    with Tracker(config, sinks=[create_sink("aim", repo_path=blocker / "aim")]) as tracker:
        for step in range(1, 4):
            tracker.log_event(RawMetricEvent(name="loss", value=1.0 / step, global_step=step))
            tracker.force_process_and_log(step)
    (view,) = labtrack.Store(tmp_path / "data").runs()
    assert view.scalars("loss").values.tolist() == [1.0, 0.5, 1 / 3]
    assert any("aim" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
