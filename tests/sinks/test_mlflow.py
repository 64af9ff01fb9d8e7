from __future__ import annotations

from pathlib import Path

import pytest

from labtrack.sinks import Sink, SinkRun, create_sink

from .contract import SinkContract

pytest.importorskip("mlflow")


def _uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


class TestMlflowSink(SinkContract):
    def make_sink(self, tmp_path: Path) -> Sink:
        return create_sink(
            "mlflow", tracking_uri=_uri(tmp_path), artifact_location=(tmp_path / "art").as_uri()
        )

    def read_back(self, sink: Sink, tmp_path: Path) -> dict[str, list[tuple[int, float]]]:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=_uri(tmp_path))
        run_id = sink.run_id  # type: ignore[attr-defined]
        keys = client.get_run(run_id).data.metrics
        return {
            k: [
                (m.step, m.value)
                for m in sorted(client.get_metric_history(run_id, k), key=lambda m: m.step)
            ]
            for k in keys
        }

    def test_run_params_artifacts_and_resume(self, tmp_path: Path) -> None:
        from mlflow.tracking import MlflowClient

        artifact = tmp_path / "latest.pkl"
        artifact.write_bytes(b"checkpoint")
        sink = self.make_sink(tmp_path)
        run_id = sink.open(self.run_info(tmp_path))
        sink.log_params({"lr": 0.01, "weird key!": "v"})
        sink.log_artifact(artifact, name="checkpoints")
        sink.log_metrics({"loss": 1.0}, step=1)
        sink.close()

        # a restarted tracker passes the id back and continues the same MLflow run
        again = self.make_sink(tmp_path)
        run = self.run_info(tmp_path)
        assert (
            again.open(SinkRun(run.experiment, run.name, run.run_dir, resume_id=run_id)) == run_id
        )
        again.log_params({"lr": 0.01})  # same value again: not refused
        again.log_metrics({"loss": 0.5}, step=2)
        again.close()

        client = MlflowClient(tracking_uri=_uri(tmp_path))
        got = client.get_run(run_id)
        assert got.info.run_name == "run-1"
        assert got.info.status == "FINISHED"
        assert got.data.params == {"lr": "0.01", "weird key_": "v"}
        assert [a.path for a in client.list_artifacts(run_id, "checkpoints")] == [
            "checkpoints/latest.pkl"
        ]
        history = client.get_metric_history(run_id, "loss")
        assert sorted((m.step, m.value) for m in history) == [(1, 1.0), (2, 0.5)]
        assert len(client.search_runs([got.info.experiment_id])) == 1
