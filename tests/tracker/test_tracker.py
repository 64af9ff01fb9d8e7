from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from pydantic import ValidationError

import labtrack
from labtrack import (
    MetricConfig,
    PersistenceConfig,
    RawMetricEvent,
    StatsConfig,
    Tracker,
    TrackerConfig,
)
from labtrack.sinks import MemorySink, SinkRun


def make_config(root: Path, *metrics: MetricConfig, interval: float = 0.05) -> TrackerConfig:
    return TrackerConfig(
        app_name="app",
        run_name="run1",
        persistence=PersistenceConfig(ROOT_DATA_DIR=str(root)),
        stats=StatsConfig(processing_interval_seconds=interval, metrics=list(metrics)),
    )


def test_events_reach_the_store_and_the_mirrors_by_log_to(tmp_path: Path) -> None:
    tb, console = MemorySink(), MemorySink()
    tb.name, console.name = "tensorboard", "console"  # type: ignore[misc]
    cfg = make_config(
        tmp_path,
        MetricConfig(name="Loss/Total", log_frequency_steps=2, log_to=["tensorboard", "console"]),
        MetricConfig(name="Buffer/Size", aggregation="latest", log_to=["tensorboard"]),
    )
    with Tracker(cfg, sinks=[tb, console]) as tracker:
        for step in range(1, 5):
            tracker.log_event(
                RawMetricEvent(name="Loss/Total", value=float(step), global_step=step)
            )
            tracker.log_event(
                RawMetricEvent(name="Buffer/Size", value=10.0 * step, global_step=step)
            )
            tracker.force_process_and_log(step)
        assert tracker.get_run_base_dir() == str((tmp_path / "app/runs/run1").resolve())

    assert tb.series("Loss/Total") == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]
    assert console.series("Buffer/Size") == []
    assert tb.series("Buffer/Size") == [(s, 10.0 * s) for s in range(1, 5)]
    assert tb.params["app_name"] == "app"

    (view,) = labtrack.Store(tmp_path).runs()
    assert (view.experiment, view.name, view.status) == ("app", "run1", "completed")
    assert view.scalars("Loss/Total").values.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert view.summary["tracker_events_received"] == 8


def test_background_thread_processes_on_its_interval_and_the_store_sees_it_live(
    tmp_path: Path,
) -> None:
    cfg = make_config(tmp_path, MetricConfig(name="loss", log_frequency_steps=1))
    tracker = Tracker(cfg, sinks=[])
    try:
        tracker.log_event(RawMetricEvent(name="loss", value=0.5, global_step=3))
        tracker.process_and_log(3)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            view = labtrack.Store(tmp_path).runs()[0]
            if "loss" in view.scalar_tags:
                break
            time.sleep(0.05)
        assert view.status == "running"
        assert view.scalars("loss").steps.tolist() == [3]
    finally:
        tracker.shutdown()


def test_events_of_a_step_not_yet_reported_wait_for_it(tmp_path: Path) -> None:
    """The background processing can come between a step's events and its process_and_log call
    (a loaded Ray actor runs its calls late): those events wait and land in their own step."""
    cfg = make_config(tmp_path, MetricConfig(name="loss", aggregation="mean"), interval=0.05)
    with Tracker(cfg, sinks=[]) as tracker:
        tracker.log_event(RawMetricEvent(name="loss", value=1.0, global_step=1))
        tracker.process_and_log(1)
        tracker.log_event(RawMetricEvent(name="loss", value=3.0, global_step=2))
        deadline = time.monotonic() + 60
        while "loss" not in labtrack.Store(tmp_path).runs()[0].scalar_tags:
            assert time.monotonic() < deadline, "step 1 was never processed"
            time.sleep(0.05)
        tracker.process_and_log(2)
    (view,) = labtrack.Store(tmp_path).runs()
    scalars = view.scalars("loss")
    assert (scalars.steps.tolist(), scalars.values.tolist()) == ([1, 2], [1.0, 3.0])


def test_bad_input_fails_at_the_caller_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="value"):
        RawMetricEvent(name="loss", value="high", global_step=1)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="global_step"):
        RawMetricEvent(name="loss", value=1.0, global_step=-1)
    with pytest.raises(ValidationError, match="name"):
        RawMetricEvent(name=3, value=1.0, global_step=1)  # type: ignore[arg-type]
    with Tracker(make_config(tmp_path, MetricConfig(name="loss")), sinks=[]) as tracker:
        with pytest.raises(TypeError, match="RawMetricEvent"):
            tracker.log_event({"name": "loss"})  # type: ignore[arg-type]
        tracker.log_events([("loss", "x", 1, None), ("nope", 1.0, 1, None)])
        tracker.log_event(RawMetricEvent(name="loss", value=float("nan"), global_step=1))
        counts = tracker.get_counts()
    assert (counts["invalid"], counts["unknown"], counts["nonfinite"]) == (1, 1, 1)
    assert counts["unknown_names"] == ["nope"]


class BrokenSink(MemorySink):
    name = "mlflow"

    def log_metrics(
        self, metrics: Mapping[str, float], *, step: int, wall_time: float | None = None
    ) -> None:
        raise ConnectionError("MLflow unreachable")


def test_a_failing_mirror_never_stops_the_tracker_or_the_store(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, MetricConfig(name="loss", log_to=["mlflow"]))
    with Tracker(cfg, sinks=[BrokenSink()]) as tracker:
        for step in range(1, 4):
            tracker.log_event(RawMetricEvent(name="loss", value=float(step), global_step=step))
            tracker.force_process_and_log(step)
    view = labtrack.Store(tmp_path).runs()[0]
    assert view.scalars("loss").values.tolist() == [1.0, 2.0, 3.0]


class SlowOpeningSink(MemorySink):
    """An MLflow mirror whose ``open`` waits until the test lets it go, as MLflow's import and
    database set-up keep it opening for a minute on a loaded machine."""

    name = "mlflow"

    def __init__(self) -> None:
        super().__init__()
        self.opening = threading.Event()
        self.release = threading.Event()

    def open(self, run: SinkRun) -> str | None:
        self.opening.set()
        assert self.release.wait(120), "the test never let the open finish"
        return super().open(run)


def test_a_mirror_still_opening_holds_up_neither_the_training_loop_nor_the_store(
    tmp_path: Path,
) -> None:
    mirror = SlowOpeningSink()
    cfg = make_config(tmp_path, MetricConfig(name="loss", log_to=["mlflow"]), interval=60)
    tracker = Tracker(cfg, sinks=[mirror])
    assert mirror.opening.wait(60)
    for step in range(1, 4):  # the mirror opens only after these return
        tracker.log_event(RawMetricEvent(name="loss", value=float(step), global_step=step))
        tracker.force_process_and_log(step)
    (view,) = labtrack.Store(tmp_path).runs()
    assert view.scalars("loss").values.tolist() == [1.0, 2.0, 3.0]  # on disk at once
    assert mirror.metrics == [] and tracker.get_mlflow_run_id() is None

    mirror.release.set()  # the mirror opens: it gets the params first, then the backlog
    tracker.shutdown()
    assert tracker.get_mlflow_run_id() == "memory-run1"
    assert mirror.params["app_name"] == "app"
    assert mirror.series("loss") == [(1, 1.0), (2, 2.0), (3, 3.0)] and mirror.closed
    assert labtrack.Store(tmp_path).runs()[0].status == "completed"


def test_shutdown_waits_a_bounded_time_for_a_mirror_and_names_what_it_did_not_get(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mirror = SlowOpeningSink()
    cfg = make_config(tmp_path, MetricConfig(name="loss", log_to=["mlflow"]), interval=60)
    cfg.mirror_close_timeout_seconds = 0.0
    tracker = Tracker(cfg, sinks=[mirror])
    for step in (1, 2):
        tracker.log_event(RawMetricEvent(name="loss", value=float(step), global_step=step))
        tracker.process_and_log(step)
    with caplog.at_level(logging.WARNING):
        tracker.shutdown()  # returns although the mirror has not opened
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "labtrack.sinks._guard"]
    assert "'mlflow' was still opening" in warning and "log_params" in warning
    assert "log_metrics (steps 2-2)" in warning  # the final processing's point
    assert any("mirror(s) mlflow to open" in r.getMessage() for r in caplog.records)
    (view,) = labtrack.Store(tmp_path).runs()
    assert view.status == "completed" and view.scalars("loss").steps.tolist() == [2]

    mirror.release.set()  # opens while the process lives: the backlog is sent, then closed
    deadline = time.monotonic() + 60
    while not mirror.closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mirror.closed and mirror.series("loss") == [(2, 2.0)]


def test_restarting_on_the_same_run_continues_its_step_state(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, MetricConfig(name="loss", log_frequency_steps=10))
    first = Tracker(cfg, sinks=[])
    first.log_event(RawMetricEvent(name="loss", value=1.0, global_step=10))
    first.force_process_and_log(10)
    first.shutdown()
    with Tracker(cfg, sinks=[]) as again:
        assert again.get_counts()["last_processed_step"] == 10
        again.log_event(RawMetricEvent(name="loss", value=2.0, global_step=15))
        again.process_and_log(15)
    (view,) = labtrack.Store(tmp_path).runs()
    assert view.scalars("loss").steps.tolist() == [10, 15]  # 15: the final forced processing


def test_resuming_from_a_checkpoint_older_than_the_step_state_logs_at_the_resumed_steps(
    tmp_path: Path,
) -> None:
    """Killed after step 10 with its latest checkpoint at 5, a run resumes at 5: what it logs
    next lands at its own steps, not at the step the killed process had reached."""
    cfg = make_config(tmp_path, MetricConfig(name="loss", log_frequency_steps=1))
    first = Tracker(cfg, sinks=[])
    for step in range(1, 11):
        first.log_event(RawMetricEvent(name="loss", value=float(step), global_step=step))
        first.force_process_and_log(step)
        if step == 5:
            first.save_training_state(nn_state_dict={}, optimizer_state_dict={}, global_step=5)
    first.shutdown()
    with Tracker(cfg, sinks=[]) as again:
        assert again.load_initial_state().checkpoint_data.global_step == 5  # type: ignore[union-attr]
        again.log_event(RawMetricEvent(name="loss", value=60.0, global_step=6))
        again.force_process_and_log(6)
    (view,) = labtrack.Store(tmp_path).runs()
    steps, values, _ = view.scalars("loss")
    assert (steps[-1], values[-1]) == (6, 60.0)


def test_default_mirrors_mlflow_and_tensorboard_read_back(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    pytest.importorskip("tensorboardX")
    from mlflow.tracking import MlflowClient

    from tests.sinks.test_tensorboard import read_scalars

    cfg = make_config(tmp_path, MetricConfig(name="Loss/Total", log_frequency_steps=1))
    # MLflow opens in the background; on a loaded machine it takes longer than shutdown's
    # default wait, and this test is about what it receives.
    cfg.mirror_close_timeout_seconds = 300
    with Tracker(cfg) as tracker:
        for step in (1, 2):
            tracker.log_event(RawMetricEvent(name="Loss/Total", value=step / 4, global_step=step))
            tracker.force_process_and_log(step)
        tracker.save_training_state(nn_state_dict={"w": 1}, optimizer_state_dict={}, global_step=2)
    run_id = tracker.get_mlflow_run_id()
    assert run_id is not None
    client = MlflowClient(tracking_uri=cfg.persistence.MLFLOW_TRACKING_URI)
    history = client.get_metric_history(run_id, "Loss/Total")
    assert sorted((m.step, m.value) for m in history) == [(1, 0.25), (2, 0.5)]
    assert client.get_run(run_id).data.params["app_name"] == "app"
    assert {a.path for a in client.list_artifacts(run_id)} == {"checkpoints", "configs"}
    assert read_scalars(tmp_path / "app/runs/run1/tensorboard") == {
        "Loss/Total": [(1, 0.25), (2, 0.5)]
    }


def test_explicit_mirror_whose_package_is_missing_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    cfg = make_config(tmp_path, MetricConfig(name="x")).model_copy(update={"mirrors": ["mlflow"]})
    with pytest.raises(labtrack.MissingExtraError, match=r'pip install "labtrack\[mlflow\]"'):
        Tracker(cfg)


def test_importing_the_tracker_does_not_import_ray() -> None:
    from tests.conftest import run_python

    out = run_python(
        "import sys, labtrack.tracker, labtrack; labtrack.Tracker; labtrack.RawMetricEvent;"
        "print(sorted(m for m in ('ray', 'mlflow', 'torch', 'tensorboardX') if m in sys.modules))",
        cwd=Path.cwd(),
    )
    assert out.stdout.strip() == "[]", out.stderr
