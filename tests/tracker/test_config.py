from __future__ import annotations

import pytest
from pydantic import ValidationError

from labtrack import DEFAULT_METRICS, MetricConfig, PersistenceConfig, StatsConfig, TrackerConfig


def test_rate_needs_its_numerator_event() -> None:
    with pytest.raises(ValidationError, match="needs rate_numerator_event"):
        MetricConfig(name="sps", aggregation="rate")


def test_unknown_aggregation_lists_the_valid_ones() -> None:
    with pytest.raises(
        ValidationError, match="valid: mean, sum, latest, rate, min, max, std, count"
    ):
        MetricConfig(name="x", aggregation="median")  # type: ignore[arg-type]


def test_unknown_target_and_axis_list_the_valid_ones() -> None:
    with pytest.raises(ValidationError, match="valid: mlflow, tensorboard, console"):
        MetricConfig(name="x", log_to=["wandb"])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="valid: global_step, wall_time, episode"):
        MetricConfig(name="x", x_axis="epoch")  # type: ignore[arg-type]


def test_frequencies_must_not_be_negative() -> None:
    with pytest.raises(ValidationError, match="log_frequency_steps"):
        MetricConfig(name="x", log_frequency_steps=-1)
    with pytest.raises(ValidationError, match="log_frequency_seconds"):
        MetricConfig(name="x", log_frequency_seconds=-0.5)


def test_metric_names_must_be_unique() -> None:
    with pytest.raises(ValidationError, match="repeated: Loss/Total"):
        StatsConfig(metrics=[*DEFAULT_METRICS, MetricConfig(name="Loss/Total")])


def test_defaults_cover_rl_training() -> None:
    names = {m.name for m in DEFAULT_METRICS}
    assert {
        "Loss/Total",
        "Episode/Score",
        "Episode/Length",
        "Buffer/Size",
        "LearningRate",
        "Rate/Steps_Per_Sec",
        "Rate/Episodes_Per_Sec",
    } <= names
    config = TrackerConfig(app_name="app", run_name="r")
    assert [m.name for m in config.stats.metrics] == [m.name for m in DEFAULT_METRICS]
    assert str(config.run_dir) == ".labtrack_data/app/runs/r"


def test_names_must_be_folder_names_and_mlflow_uri_defaults_to_sqlite() -> None:
    with pytest.raises(ValidationError, match="run_name"):
        TrackerConfig(run_name="a/b")
    assert (
        PersistenceConfig(ROOT_DATA_DIR="/data").MLFLOW_TRACKING_URI == "sqlite:////data/mlflow.db"
    )
