"""The tracker's aggregation rules for this pipeline: trieye's defaults that apply, plus ours."""

from __future__ import annotations

from labtrack.tracker import DEFAULT_METRICS, MetricConfig

_DEFAULTS_USED = (
    "Loss/Total",
    "Loss/Policy",
    "Loss/Value",
    "Loss/Entropy",
    "LearningRate",
    "Episode/Score",
    "Episode/Length",
    "RL/Step_Reward_Mean",
    "Buffer/Size",
    "Progress/Episodes_Played",
    "Progress/Weight_Updates_Total",
    "System/Num_Active_Workers",
    "System/Num_Pending_Tasks",
    "Rate/Steps_Per_Sec",
    "Rate/Episodes_Per_Sec",
)


def _every_step(name: str) -> MetricConfig:
    return MetricConfig(name=name, source="loop", aggregation="latest", log_frequency_steps=1)


def pipeline_metrics() -> list[MetricConfig]:
    """The metrics the run records (``labtrack ui`` shows each as a chart)."""
    by_name = {m.name: m for m in DEFAULT_METRICS}
    return [
        *(by_name[n] for n in _DEFAULTS_USED),
        # the learning curve, one point per global step (the bench reads these three)
        _every_step("Episode/Mean_Score"),  # mean of the last SCORE_WINDOW episodes
        _every_step("Progress/Env_Steps"),
        _every_step("Progress/Elapsed_Seconds"),
        _every_step("System/Worker_Replacements"),
        _every_step("Error/Fatal"),
        # how many training steps each Loss/Total point aggregates: their sum over a run shows
        # that no step went unrecorded (and which were recorded twice after a resume)
        MetricConfig(
            name="Loss/Steps_Aggregated",
            source="trainer",
            raw_event_name="Loss/Total",
            aggregation="count",
            log_frequency_steps=10,
        ),
        MetricConfig(
            name="Rate/Env_Steps_Per_Sec",
            source="worker",
            aggregation="rate",
            rate_numerator_event="env_steps",
            log_frequency_seconds=5.0,
            log_to=["mlflow", "tensorboard", "console"],
        ),
    ]
