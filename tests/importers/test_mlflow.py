"""Import a real MLflow sqlite store, compared with what MlflowClient reads from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

from mlflow import MlflowClient
from mlflow.entities import Metric

import labtrack
from labtrack import importers
from labtrack.store import open_run
from tests.conftest import SRC

T0 = 1_700_000_000_000  # MLflow timestamps are milliseconds


@pytest.fixture
def tracking(workdir: Path) -> tuple[str, MlflowClient]:
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    return uri, MlflowClient(tracking_uri=uri)


def make_experiment(client: MlflowClient, workdir: Path, name: str) -> str:
    return client.create_experiment(name, artifact_location=(workdir / "artifacts" / name).as_uri())


def log_history(client: MlflowClient, run_id: str, key: str, steps: range) -> None:
    metrics = [Metric(key, 1 / (s + 1), T0 + 37 * s + 1, s) for s in steps]
    for start in range(0, len(metrics), 1000):  # log_batch takes at most 1000 metrics
        client.log_batch(run_id, metrics=metrics[start : start + 1000])


def assert_same_history(client: MlflowClient, run_id: str, run_dir: Path) -> None:
    """Every metric of the MLflow run equals the labtrack tag: values, steps, timestamps."""
    view = open_run(run_dir)
    keys = sorted(client.get_run(run_id).data.metrics)
    assert sorted(view.scalar_tags) == keys
    for key in keys:
        history = sorted(
            client.get_metric_history(run_id, key), key=lambda m: (m.timestamp, m.step)
        )
        steps, values, walls = view.scalars(key)
        assert steps.tolist() == [m.step for m in history]
        assert values.tolist() == [m.value for m in history]
        assert walls.tolist() == [m.timestamp / 1000 for m in history]


def test_runs_params_tags_metrics_status_and_artifacts_arrive(
    workdir: Path, tracking: tuple[str, MlflowClient]
) -> None:
    uri, client = tracking
    exp = make_experiment(client, workdir, "vision")
    other = make_experiment(client, workdir, "nlp")
    done = client.create_run(exp, run_name="resnet", tags={"team": "cv"})
    rid = done.info.run_id
    client.log_param(rid, "lr", "0.01")
    client.log_param(rid, "layers", "[64, 128]")
    log_history(client, rid, "loss", range(2500))
    log_history(client, rid, "acc", range(0, 2500, 10))
    (workdir / "files" / "model").mkdir(parents=True)
    (workdir / "files" / "model" / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\nmlflow_version: 3.1.0\n"
    )
    (workdir / "files" / "model" / "model.pkl").write_bytes(b"weights")
    (workdir / "files" / "plots").mkdir()
    (workdir / "files" / "plots" / "curve.png").write_bytes(b"\x89PNG fake")
    client.log_artifacts(rid, str(workdir / "files"))
    client.set_terminated(rid, "FINISHED", end_time=T0 + 10**6)
    crashed = client.create_run(other, run_name="bert")
    log_history(client, crashed.info.run_id, "ppl", range(10))
    client.set_terminated(crashed.info.run_id, "FAILED")

    report = importers.mlflow(uri, into="out")

    assert report.failed == []
    assert sorted(r.name for r in report.created) == ["bert", "resnet"]
    assert report.points == 2500 + 250 + 10
    by_name = {r.name: r for r in report.runs}
    assert_same_history(client, rid, by_name["resnet"].run_dir)
    assert_same_history(client, crashed.info.run_id, by_name["bert"].run_dir)

    store = labtrack.Store("out")
    (view,) = store.runs(experiment="vision")
    assert view.name == "resnet" and view.status == "completed"
    assert view.params == {"lr": "0.01", "layers": "[64, 128]"}  # MLflow's strings, unchanged
    assert view.tags["team"] == "cv"
    assert view.tags["import.source"] == f"mlflow:{rid}"
    source = client.get_run(rid).info
    assert view.tags["mlflow.start_time"] == str(source.start_time)
    assert view.tags["mlflow.end_time"] == str(T0 + 10**6)
    assert view.start_time == source.start_time / 1000  # the run's own times, not the import's
    assert view.end_time == (T0 + 10**6) / 1000
    artifacts = {a.name: a for a in view.artifacts()}
    assert set(artifacts) == {"model", "plots/curve.png"}
    assert artifacts["model"].kind == "model"
    assert artifacts["model"].metadata["flavors"] == {
        "python_function": {"loader_module": "mlflow.sklearn"}
    }
    assert (artifacts["model"].path / "model.pkl").read_bytes() == b"weights"
    assert artifacts["plots/curve.png"].kind == "figure"
    (bert,) = store.runs(experiment="nlp")
    assert bert.status == "failed" and bert.tags["mlflow.status"] == "FAILED"


def test_a_logged_model_of_mlflow_3_is_copied_with_its_flavors(workdir: Path) -> None:
    import mlflow

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=make_experiment(MlflowClient(uri), workdir, "models"))

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input: list[str]) -> list[str]:
            return model_input

    with mlflow.start_run(run_name="echo"):
        mlflow.log_metric("x", 1.0)
        mlflow.pyfunc.log_model(name="net", python_model=Echo(), pip_requirements=[])

    report = importers.mlflow(uri, into="out")

    (run,) = report.created
    (artifact,) = open_run(run.run_dir).artifacts()
    assert (artifact.name, artifact.kind) == ("models/net", "model")
    assert "python_function" in artifact.metadata["flavors"]
    assert (artifact.path / "MLmodel").is_file()


def test_importing_again_creates_nothing_and_a_grown_run_gets_only_new_points(
    workdir: Path, tracking: tuple[str, MlflowClient]
) -> None:
    uri, client = tracking
    exp = make_experiment(client, workdir, "live")
    run = client.create_run(exp, run_name="training")
    rid = run.info.run_id
    log_history(client, rid, "loss", range(100))

    first = importers.mlflow(uri, into="out", experiment="live")
    (imported,) = first.created
    again = importers.mlflow(uri, into="out")
    assert [r.outcome for r in again.runs] == ["unchanged"] and again.points == 0
    assert open_run(imported.run_dir).meta["resumed"] == []

    log_history(client, rid, "loss", range(100, 180))
    log_history(client, rid, "lr", range(5))
    client.set_terminated(rid, "KILLED")
    grown = importers.mlflow(uri, into="out")
    assert [r.outcome for r in grown.runs] == ["updated"]
    assert grown.points == 80 + 5
    assert len(list((workdir / "out" / "live").iterdir())) == 1
    assert_same_history(client, rid, imported.run_dir)
    assert open_run(imported.run_dir).status == "killed"


def test_a_source_that_is_not_there_is_an_error_naming_it(workdir: Path) -> None:
    with pytest.raises(importers.ImportSourceError, match=r"sqlite:///nope\.db does not exist"):
        importers.mlflow("sqlite:///nope.db", into="out")
    assert not (workdir / "nope.db").exists()  # MLflow would have made an empty one
    with pytest.raises(importers.ImportSourceError, match=r"cannot reach .*http://127\.0\.0\.1:9"):
        importers.mlflow("http://127.0.0.1:9", into="out")


def test_an_unknown_experiment_is_an_error_listing_the_known_ones(
    workdir: Path, tracking: tuple[str, MlflowClient]
) -> None:
    uri, client = tracking
    make_experiment(client, workdir, "known")
    with pytest.raises(importers.ImportSourceError, match="no experiment 'other'.*known"):
        importers.mlflow(uri, into="out", experiment="other")


def test_command_line_import(workdir: Path, tracking: tuple[str, MlflowClient]) -> None:
    uri, client = tracking
    run = client.create_run(make_experiment(client, workdir, "cli"), run_name="r")
    log_history(client, run.info.run_id, "loss", range(30))
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "HOME": str(workdir)}
    command = [sys.executable, "-m", "labtrack", "import", "mlflow", uri, "-d", "store"]

    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert "1 created" in done.stdout and "30 point(s) written" in done.stdout
    (view,) = labtrack.Store(workdir / "store").runs(experiment="cli")
    assert view.scalar_count("loss") == 30


@pytest.mark.slow
def test_import_from_a_tracking_server_over_http(
    workdir: Path, tracking: tuple[str, MlflowClient]
) -> None:
    import socket
    import time
    import urllib.request

    db_uri, local = tracking  # written before the server starts: it then only serves reads
    run = local.create_run(make_experiment(local, workdir, "remote"), run_name="far")
    log_history(local, run.info.run_id, "loss", range(1500))
    local.log_param(run.info.run_id, "lr", "0.1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)),
            *("--backend-store-uri", db_uri, "--workers", "1"),
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "no MLflow server"
                time.sleep(0.3)

        report = importers.mlflow(uri, into="out", experiment="remote")

        (imported,) = report.created
        remote = MlflowClient(tracking_uri=uri)
        assert_same_history(remote, run.info.run_id, imported.run_dir)
        assert open_run(imported.run_dir).params == {"lr": "0.1"}
        assert importers.mlflow(uri, into="out").runs[0].outcome == "unchanged"
    finally:
        server.terminate()
        server.wait(timeout=30)
