"""Validated configuration of a tracker: what to aggregate, how often to log, where to save.

Pydantic models, because clear validation errors are part of the product::

    from labtrack import DEFAULT_METRICS, MetricConfig, StatsConfig, TrackerConfig

    config = TrackerConfig(
        app_name="my_rl_app",
        stats=StatsConfig(metrics=[*DEFAULT_METRICS, MetricConfig(name="Custom/X")]),
    )
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

AggregationMethod = Literal["mean", "sum", "latest", "rate", "min", "max", "std", "count"]
LogTarget = Literal["mlflow", "tensorboard", "console", "aim"]
XAxis = Literal["global_step", "wall_time", "episode"]

_TRAIN: list[LogTarget] = ["mlflow", "tensorboard"]
_ALL: list[LogTarget] = ["mlflow", "tensorboard", "console"]

AGGREGATIONS: tuple[str, ...] = get_args(AggregationMethod)
LOG_TARGETS: tuple[str, ...] = get_args(LogTarget)
X_AXES: tuple[str, ...] = get_args(XAxis)


def _one_of(value: object, valid: tuple[str, ...], what: str) -> object:
    # Checked before pydantic's Literal check so that the message lists every valid choice.
    if isinstance(value, str) and value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    return value


class MetricConfig(BaseModel):
    """One metric: which raw events feed it, how they are combined, when and where it is logged.

    Example::

        MetricConfig(name="Episode/Score", raw_event_name="episode_end", context_key="score",
                     aggregation="mean", log_frequency_steps=10)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)  # name the aggregated value is logged under; unique
    source: str = "custom"  # origin of the events (informational: "worker", "trainer", ...)
    raw_event_name: str | None = None  # RawMetricEvent.name that feeds it; None = `name`
    aggregation: AggregationMethod = (
        "latest"  # how values of one interval combine (trieye's default)
    )
    log_frequency_steps: int = Field(default=1, ge=0)  # log every N global steps; 0 = off
    log_frequency_seconds: float = Field(default=0.0, ge=0.0)  # log every N seconds; 0 = off
    log_to: list[LogTarget] = Field(default_factory=lambda: list(_TRAIN))
    x_axis: XAxis = "global_step"  # x value the point is logged at
    context_key: str | None = None  # take the value from event.context[context_key]
    rate_numerator_event: str | None = None  # for "rate": event whose summed values / second

    @field_validator("aggregation", mode="before")
    @classmethod
    def _check_aggregation(cls, value: object) -> object:
        return _one_of(value, AGGREGATIONS, "aggregation")

    @field_validator("x_axis", mode="before")
    @classmethod
    def _check_x_axis(cls, value: object) -> object:
        return _one_of(value, X_AXES, "x_axis")

    @field_validator("log_to", mode="before")
    @classmethod
    def _check_log_to(cls, value: object) -> object:
        if isinstance(value, (list, tuple)):
            for target in value:
                _one_of(target, LOG_TARGETS, "log target")
        return value

    @model_validator(mode="after")
    def _check_rate(self) -> MetricConfig:
        if self.aggregation == "rate" and not self.rate_numerator_event:
            raise ValueError(
                f"metric {self.name!r}: aggregation 'rate' needs rate_numerator_event "
                "(the raw event whose summed values are counted per second)"
            )
        return self

    @property
    def event_name(self) -> str:
        """The raw event name this metric listens to."""
        if self.aggregation == "rate":
            assert self.rate_numerator_event is not None  # checked by the validator
            return self.rate_numerator_event
        return self.raw_event_name or self.name


def _default_metrics() -> list[MetricConfig]:
    return [m.model_copy() for m in DEFAULT_METRICS]


class StatsConfig(BaseModel):
    """The aggregation rules: a list of metrics and how often buffered events are processed."""

    model_config = ConfigDict(extra="forbid")

    processing_interval_seconds: float = Field(default=1.0, gt=0.0)  # background processing period
    metrics: list[MetricConfig] = Field(default_factory=_default_metrics)
    episode_event_name: str = "episode_end"  # events counted as episodes (x_axis="episode")

    @model_validator(mode="after")
    def _check_unique(self) -> StatsConfig:
        names = [m.name for m in self.metrics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metric names must be unique; repeated: {', '.join(dupes)}")
        return self


class PersistenceConfig(BaseModel):
    """Where the run's data, checkpoints and buffers live, and how resuming works.

    Layout: ``<ROOT_DATA_DIR>/<app_name>/<RUNS_DIR_NAME>/<run_name>/`` holds a labtrack run, with
    ``checkpoints/``, ``buffers/``, ``configs/`` and ``tensorboard/`` inside it.
    """

    model_config = ConfigDict(extra="forbid")

    ROOT_DATA_DIR: str = ".labtrack_data"  # root of every app's data; a labtrack store
    RUNS_DIR_NAME: str = "runs"
    CHECKPOINT_SAVE_DIR_NAME: str = "checkpoints"
    BUFFER_SAVE_DIR_NAME: str = "buffers"
    CONFIG_SAVE_DIR_NAME: str = "configs"
    TENSORBOARD_DIR_NAME: str = "tensorboard"
    MLFLOW_DB_FILENAME: str = "mlflow.db"  # under ROOT_DATA_DIR: the default MLflow store
    MLFLOW_ARTIFACTS_DIR_NAME: str = "mlflow_artifacts"  # under ROOT_DATA_DIR
    AIM_REPO_DIR_NAME: str = "aim"  # under ROOT_DATA_DIR: the Aim repository of the aim mirror
    LATEST_CHECKPOINT_FILENAME: str = "latest.pkl"
    BEST_CHECKPOINT_FILENAME: str = "best.pkl"
    BUFFER_FILENAME: str = "buffer.pkl"
    CONFIG_FILENAME: str = "configs.json"
    SAVE_BUFFER: bool = True  # False: save_buffer=True requests are ignored
    BUFFER_SAVE_FREQ_STEPS: int = Field(default=1000, ge=1)  # advice for the caller's save cadence
    KEEP_LAST_N_CHECKPOINTS: int = Field(default=5, ge=0)  # step-numbered checkpoints kept
    AUTO_RESUME_LATEST: bool = True  # load_initial_state looks in the app's previous runs
    RESUME_RUN_NAME: str | None = None  # resume this run of the app instead of the latest
    LOAD_CHECKPOINT_PATH: str | None = None  # explicit checkpoint file (wins over the above)
    LOAD_BUFFER_PATH: str | None = None  # explicit buffer file
    MLFLOW_TRACKING_URI_OVERRIDE: str | None = None  # e.g. "sqlite:///mlflow.db" or a server
    # trieye's other folder names, accepted so that its configs load (labtrack logs into the run
    # itself and MLflow into MLFLOW_DB_FILENAME, so these name no folder of ours)
    MLFLOW_DIR_NAME: str = "mlruns"
    LOG_DIR_NAME: str = "logs"
    PROFILE_DIR_NAME: str = "profile_data"
    # trieye's copies of TrackerConfig.app_name / run_name, kept in sync by TrackerConfig (not
    # dumped: the top-level names are the ones that count)
    APP_NAME: str = Field(default="default_app", exclude=True)
    RUN_NAME: str = Field(default="default_run", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_computed(cls, data: Any) -> Any:
        # model_dump() includes the computed MLFLOW_TRACKING_URI; validating that dump again
        # (configs.json, a round trip) must not fail on it. A value that is not what would be
        # computed anyway is kept as the override, so nothing the file says is lost.
        if isinstance(data, dict) and "MLFLOW_TRACKING_URI" in data:
            data = dict(data)
            uri = data.pop("MLFLOW_TRACKING_URI")
            if uri and not data.get("MLFLOW_TRACKING_URI_OVERRIDE"):
                default = cls._default_uri(
                    str(data.get("ROOT_DATA_DIR", ".labtrack_data")),
                    str(data.get("MLFLOW_DB_FILENAME", "mlflow.db")),
                )
                if uri != default:
                    data["MLFLOW_TRACKING_URI_OVERRIDE"] = uri
        return data

    @staticmethod
    def _default_uri(root: str, db: str) -> str:
        return "sqlite:///" + Path(root, db).resolve().as_posix()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def MLFLOW_TRACKING_URI(self) -> str:
        """``MLFLOW_TRACKING_URI_OVERRIDE`` or an SQLite store in ``ROOT_DATA_DIR``."""
        if self.MLFLOW_TRACKING_URI_OVERRIDE:
            return self.MLFLOW_TRACKING_URI_OVERRIDE
        return self._default_uri(self.ROOT_DATA_DIR, self.MLFLOW_DB_FILENAME)

    @property
    def mlflow_artifact_location(self) -> str:
        """Where MLflow copies artifacts: ``<ROOT_DATA_DIR>/<MLFLOW_ARTIFACTS_DIR_NAME>``."""
        return Path(self.ROOT_DATA_DIR, self.MLFLOW_ARTIFACTS_DIR_NAME).resolve().as_uri()


def _default_run_name() -> str:
    return f"run_{time.strftime('%Y%m%d_%H%M%S')}"


class TrackerConfig(BaseModel):
    """Top-level tracker configuration: names, persistence, statistics, mirrors."""

    model_config = ConfigDict(extra="forbid")

    app_name: str = Field(default="default_app", min_length=1)  # the labtrack experiment
    run_name: str = Field(default_factory=_default_run_name, min_length=1)
    persistence: PersistenceConfig = Field(default_factory=PersistenceConfig)
    stats: StatsConfig = Field(default_factory=StatsConfig)
    # Mirrors to open. None: those named in the metrics' log_to whose package is installed.
    mirrors: list[LogTarget] | None = None
    console_interval_seconds: float = Field(default=10.0, ge=0.0)  # console line period
    # How long shutdown() waits, in all, for mirrors still opening (MLflow's import and database
    # set-up take seconds, a minute on a loaded machine); short enough for trieye's README, which
    # gives shutdown 15 s. A warning names what was not mirrored; the labtrack run has it all.
    mirror_close_timeout_seconds: float = Field(default=5.0, ge=0.0)

    @field_validator("app_name", "run_name")
    @classmethod
    def _check_path_safe(cls, value: str) -> str:
        if "/" in value or "\\" in value or value in {".", ".."}:
            raise ValueError(f"must be usable as a folder name, got {value!r}")
        return value

    @field_validator("mirrors", mode="before")
    @classmethod
    def _check_mirrors(cls, value: object) -> object:
        if isinstance(value, (list, tuple)):
            for target in value:
                _one_of(target, LOG_TARGETS, "mirror")
        return value

    @model_validator(mode="after")
    def _sync_names(self) -> TrackerConfig:
        # as trieye: the persistence config carries the top-level names
        self.persistence.APP_NAME = self.app_name
        self.persistence.RUN_NAME = self.run_name
        return self

    @property
    def run_dir(self) -> Path:
        """``<ROOT_DATA_DIR>/<app_name>/<RUNS_DIR_NAME>/<run_name>``."""
        p = self.persistence
        return Path(p.ROOT_DATA_DIR, self.app_name, p.RUNS_DIR_NAME, self.run_name)


def _every(
    name: str,
    *,
    steps: int = 0,
    seconds: float = 0.0,
    aggregation: AggregationMethod = "latest",
    event: str | None = None,
    context_key: str | None = None,
    rate_of: str | None = None,
    log_to: list[LogTarget] | None = None,
) -> MetricConfig:
    return MetricConfig(
        name=name,
        source="custom",
        raw_event_name=event,
        aggregation=aggregation,
        log_frequency_steps=steps,
        log_frequency_seconds=seconds,
        log_to=list(log_to or _TRAIN),
        context_key=context_key,
        rate_numerator_event=rate_of,
    )


#: trieye's default metrics (same names, events, aggregations and frequencies), plus labtrack's
#: ``Episode/Score``. Event names are the ``raw_event_name`` (or ``name``).
DEFAULT_METRICS: list[MetricConfig] = [
    *(_every(n, steps=10, aggregation="mean") for n in ("Loss/Total", "Loss/Policy")),
    *(_every(n, steps=10, aggregation="mean") for n in ("Loss/Value", "Loss/Entropy")),
    _every("Loss/Mean_Abs_TD_Error", steps=10, aggregation="mean"),
    _every("LearningRate", steps=10),
    *(
        _every(n, seconds=5.0, aggregation="mean", event="episode_end", context_key=k)
        for n, k in (
            ("Episode/Final_Score", "score"),
            ("Episode/Length", "length"),
            ("Episode/Triangles_Cleared_Total", "triangles_cleared"),
        )
    ),
    _every(
        "Episode/Score", seconds=5.0, aggregation="mean", event="episode_end", context_key="score"
    ),
    _every("MCTS/Avg_Simulations_Per_Step", seconds=10.0, aggregation="mean", event="mcts_step"),
    _every("RL/Step_Reward_Mean", seconds=10.0, aggregation="mean", event="step_reward"),
    *(
        _every(n, seconds=5.0)
        for n in (
            "Buffer/Size",
            "Progress/Total_Simulations",
            "Progress/Episodes_Played",
            "Progress/Weight_Updates_Total",
        )
    ),
    *(_every(n, seconds=10.0) for n in ("System/Num_Active_Workers", "System/Num_Pending_Tasks")),
    *(
        _every(n, seconds=5.0, aggregation="rate", rate_of=e, log_to=_ALL)
        for n, e in (
            ("Rate/Steps_Per_Sec", "step_completed"),
            ("Rate/Episodes_Per_Sec", "episode_end"),
            ("Rate/Simulations_Per_Sec", "mcts_step"),  # the mcts_step value is the simulations
        )
    ),
    _every("PER/Beta", steps=10),
]

#: trieye's name for :class:`TrackerConfig`.
TrieyeConfig = TrackerConfig
