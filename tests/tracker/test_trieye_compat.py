"""Code written for trieye runs on labtrack's tracker: its names, keywords, methods and defaults."""

from __future__ import annotations

import json
import time
from pathlib import Path

import labtrack
from labtrack import MetricConfig, PersistenceConfig, RawMetricEvent, StatsConfig, Tracker
from labtrack.sinks import MemorySink
from labtrack.tracker import DEFAULT_METRICS, TrackerConfig, TrieyeConfig


def make_config(root: Path, *metrics: MetricConfig, **persistence: object) -> TrackerConfig:
    return TrieyeConfig(
        app_name="app",
        run_name="run1",
        persistence=PersistenceConfig(ROOT_DATA_DIR=str(root), **persistence),  # type: ignore[arg-type]
        stats=StatsConfig(processing_interval_seconds=60, metrics=list(metrics)),
    )


def test_a_config_dump_validates_again_and_the_trackers_own_configs_json_loads_back(
    tmp_path: Path,
) -> None:
    cfg = make_config(tmp_path, *DEFAULT_METRICS)
    assert "MLFLOW_TRACKING_URI" in cfg.model_dump()["persistence"]  # the computed field
    assert TrackerConfig.model_validate(cfg.model_dump()) == cfg
    assert TrackerConfig.model_validate_json(cfg.model_dump_json()) == cfg
    with Tracker(cfg, sinks=[]) as tracker:
        path = Path(tracker.get_run_base_dir()) / "configs" / "configs.json"
    saved = json.loads(path.read_text())["tracker"]
    assert TrackerConfig.model_validate(saved) == cfg


def test_a_dumped_tracking_uri_that_is_not_the_default_is_kept_as_the_override() -> None:
    data = PersistenceConfig().model_dump()
    data["MLFLOW_TRACKING_URI"] = "http://mlflow.example:5000"
    assert PersistenceConfig.model_validate(data).MLFLOW_TRACKING_URI == (
        "http://mlflow.example:5000"
    )


def test_trieye_names_and_app_and_run_names_kept_in_sync(tmp_path: Path) -> None:
    assert TrieyeConfig is TrackerConfig
    p = PersistenceConfig(APP_NAME="ignored", RUN_NAME="ignored", ROOT_DATA_DIR=str(tmp_path))
    cfg = TrieyeConfig(app_name="my_rl_app", run_name="exp_1", persistence=p)
    assert (cfg.persistence.APP_NAME, cfg.persistence.RUN_NAME) == ("my_rl_app", "exp_1")
    assert "APP_NAME" not in cfg.model_dump()["persistence"]  # as trieye: not dumped


def test_defaults_are_trieyes() -> None:
    p = PersistenceConfig()
    assert (p.BUFFER_SAVE_FREQ_STEPS, p.SAVE_BUFFER, p.BUFFER_FILENAME) == (
        1000,
        True,
        "buffer.pkl",
    )
    assert (p.MLFLOW_DIR_NAME, p.LOG_DIR_NAME, p.PROFILE_DIR_NAME) == (
        "mlruns",
        "logs",
        "profile_data",
    )
    assert StatsConfig().processing_interval_seconds == 1.0
    by_name = {m.name: m for m in DEFAULT_METRICS}
    trieye = {  # name: (event, aggregation, every N steps, every N seconds)
        "Loss/Total": ("Loss/Total", "mean", 10, 0.0),
        "Loss/Mean_Abs_TD_Error": ("Loss/Mean_Abs_TD_Error", "mean", 10, 0.0),
        "LearningRate": ("LearningRate", "latest", 10, 0.0),
        "Episode/Final_Score": ("episode_end", "mean", 0, 5.0),
        "Episode/Length": ("episode_end", "mean", 0, 5.0),
        "Episode/Triangles_Cleared_Total": ("episode_end", "mean", 0, 5.0),
        "MCTS/Avg_Simulations_Per_Step": ("mcts_step", "mean", 0, 10.0),
        "RL/Step_Reward_Mean": ("step_reward", "mean", 0, 10.0),
        "Buffer/Size": ("Buffer/Size", "latest", 0, 5.0),
        "Progress/Weight_Updates_Total": ("Progress/Weight_Updates_Total", "latest", 0, 5.0),
        "System/Num_Active_Workers": ("System/Num_Active_Workers", "latest", 0, 10.0),
        "System/Num_Pending_Tasks": ("System/Num_Pending_Tasks", "latest", 0, 10.0),
        "Rate/Steps_Per_Sec": ("step_completed", "rate", 0, 5.0),
        "Rate/Episodes_Per_Sec": ("episode_end", "rate", 0, 5.0),
        "Rate/Simulations_Per_Sec": ("mcts_step", "rate", 0, 5.0),
        "PER/Beta": ("PER/Beta", "latest", 10, 0.0),
    }
    for name, (event, how, steps, seconds) in trieye.items():
        m = by_name[name]
        assert (m.event_name, m.aggregation, m.log_frequency_steps, m.log_frequency_seconds) == (
            event,
            how,
            steps,
            seconds,
        ), name
    assert by_name["Episode/Triangles_Cleared_Total"].context_key == "triangles_cleared"


def test_trieye_keywords_event_timestamps_and_batch_logging(tmp_path: Path) -> None:
    sink = MemorySink()
    sink.name = "tensorboard"  # type: ignore[misc]
    cfg = make_config(
        tmp_path,
        MetricConfig(name="loss", source="custom", aggregation="mean", log_to=["tensorboard"]),
        MetricConfig(name="wall", source="custom", x_axis="wall_time", log_to=["tensorboard"]),
    )
    with Tracker(cfg, sinks=[sink]) as tracker:
        start = tracker._agg.start_wall_time
        tracker.log_batch_events(
            [
                RawMetricEvent(name="loss", value=1.0, global_step=1),
                RawMetricEvent(name="loss", value=3.0, global_step=1),
                RawMetricEvent(name="wall", value=7.0, global_step=1, timestamp=start + 30.5),
            ]
        )
        tracker.process_and_log(current_global_step=1)
        tracker.force_process_and_log(current_global_step=1)
        assert sink.series("loss") == [(1, 2.0)]
        assert sink.series("wall") == [(30, 7.0)]  # placed at the event's own time


def test_state_config_run_dir_and_run_config_methods(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, MetricConfig(name="loss", source="custom", log_frequency_steps=5))
    with Tracker(cfg, sinks=[]) as tracker:
        tracker.log_event(RawMetricEvent(name="loss", value=1.0, global_step=10))
        tracker.force_process_and_log(10)
        state = tracker.get_state()
        assert state["aggregator"]["last_processed_step"] == 10
        assert tracker.get_config() == cfg and tracker.get_config() is not cfg
        assert tracker.get_run_base_dir_str() == str(tmp_path / "app" / "runs" / "run1")
        path = Path(tracker.save_run_config({"model": {"layers": 2}}))
        assert json.loads(path.read_text())["model"] == {"layers": 2}
        tracker.close_tb_writer()  # no TensorBoard mirror: nothing to close, no error
    with Tracker(cfg.model_copy(update={"run_name": "run2"}), sinks=[]) as other:
        other.set_state(state)
        assert other.get_counts()["last_processed_step"] == 10


def test_the_actor_body_names_itself_the_trieye_way(tmp_path: Path) -> None:
    from labtrack.tracker.actor import TrackerActorBody, actor_name

    assert actor_name("exp_1") == "trieye_actor_exp_1"
    body = TrackerActorBody(make_config(tmp_path), sinks=[])
    try:
        assert body.get_actor_name() == "trieye_actor_run1"  # outside Ray: the trieye name
        body.process_and_log(current_global_step=3)
        body.force_process_and_log(current_global_step=3)
        assert body.get_state()["aggregator"]["last_processed_step"] == 3
    finally:
        body.shutdown()


def test_a_saved_buffer_is_kept_per_step_beside_buffer_pkl(tmp_path: Path) -> None:
    with Tracker(make_config(tmp_path), sinks=[]) as tracker:
        for step in (50, 100):
            tracker.save_training_state(
                nn_state_dict={},
                optimizer_state_dict={},
                buffer_content=[step],
                global_step=step,
                save_buffer=True,
            )
        buffers = Path(tracker.get_run_base_dir()) / "buffers"
        state = tracker.load_initial_state()
    assert sorted(p.name for p in buffers.glob("*.pkl")) == [
        "buffer.pkl",
        "buffer_step_100.pkl",
        "buffer_step_50.pkl",
    ]
    assert state.buffer_data is not None and state.buffer_data.buffer_list == [100]


def test_shutdown_logs_no_extra_zero_rate_point(tmp_path: Path) -> None:
    sink = MemorySink()
    sink.name = "console"  # type: ignore[misc]
    rate = MetricConfig(
        name="Rate/Steps_Per_Sec",
        source="custom",
        aggregation="rate",
        rate_numerator_event="step_completed",
        log_frequency_steps=1,
        log_to=["console"],
    )
    tracker = Tracker(make_config(tmp_path, rate), sinks=[sink])
    for step in range(1, 4):
        tracker.log_event(RawMetricEvent(name="step_completed", value=1, global_step=step))
    time.sleep(0.05)
    tracker.force_process_and_log(3)
    tracker.shutdown()  # nothing new since: no rate point, in particular no 0.0
    points = sink.series("Rate/Steps_Per_Sec")
    assert len(points) == 1 and points[0][0] == 3 and points[0][1] > 0
    assert labtrack.Store(tmp_path).runs()[0].scalars("Rate/Steps_Per_Sec").values.tolist() == [
        points[0][1]
    ]
