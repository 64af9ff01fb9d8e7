"""The tracking API's data: pydantic models (user-facing, validated) and two enums.

``TrainingMetrics`` takes the well-known fields and any extra numeric field
(``TrainingMetrics(step=1, reward=2.0, sharpe_ratio=1.4)``); what is not a finite-or-not number
is refused with pydantic's usual error naming the field.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ExperimentStatus(str, Enum):
    """Where a run is in its life. ``finish_run`` takes the final ones."""

    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


#: Statuses ``finish_run`` accepts.
FINAL_STATUSES = (
    ExperimentStatus.COMPLETED,
    ExperimentStatus.FAILED,
    ExperimentStatus.CANCELLED,
    ExperimentStatus.PAUSED,
)


class ArtifactType(str, Enum):
    """What a logged file is."""

    MODEL = "model"
    CHECKPOINT = "checkpoint"
    PLOT = "plot"
    DATA = "data"
    LOG = "log"
    CONFIG = "config"

    def __str__(self) -> str:
        return self.value


class TrainingMetrics(BaseModel):
    """Values of one training step: ``TrainingMetrics(step=1000, loss=0.045, reward=1250.5)``.

    Any extra keyword is another metric and must be a number (``win_rate=0.68``). Fields left
    ``None`` are not logged.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    step: int = Field(ge=0)
    loss: float | None = None
    reward: float | None = None
    episode_length: float | None = None
    accuracy: float | None = None

    @model_validator(mode="after")
    def _extras_are_numbers(self) -> TrainingMetrics:
        for key, value in (self.model_extra or {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"metric {key!r} must be a number, got {value!r}")
        return self

    def values(self) -> dict[str, float]:
        """Every metric that has a value (``step`` excluded), in declaration order."""
        out: dict[str, float] = {}
        for key in ("loss", "reward", "episode_length", "accuracy"):
            value = getattr(self, key)
            if value is not None:
                out[key] = float(value)
        for key, value in (self.model_extra or {}).items():
            out[key] = float(value)
        return out


class ExperimentRun(BaseModel):
    """The handle ``create_run`` returns: pass it back to every ``MLTracker`` call."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    experiment_name: str
    backend: str
    start_time: datetime


class ModelArtifact(BaseModel):
    """A file recorded with a run: ``ModelArtifact(name="best_model.zip", artifact_type=...)``."""

    name: str
    artifact_type: ArtifactType = ArtifactType.MODEL
    file_path: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class ExperimentSummary(BaseModel):
    """One run as the repository lists it. ``experiment_id`` is the backend's run id and
    ``name`` the experiment name; ``final_metrics`` are the values given to ``finish_run`` over
    the last logged value of every metric."""

    experiment_id: str
    name: str
    status: ExperimentStatus
    start_time: datetime
    duration: timedelta | None = None
    end_time: datetime | None = None
    final_metrics: dict[str, float] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    artifacts: list[ModelArtifact] = Field(default_factory=list)
    run_name: str | None = None
    backend: str = ""


class MetricPoint(BaseModel):
    """One logged value: ``name``, ``step``, ``value`` and ``wall_time`` (epoch seconds)."""

    model_config = ConfigDict(frozen=True)

    name: str
    step: int
    value: float
    wall_time: float
    context: dict[str, Any] = Field(default_factory=dict)


class HealthStatus(BaseModel):
    """What ``health_check()`` found: ``is_healthy`` is True when ``issues`` is empty."""

    backend: str
    issues: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_healthy(self) -> bool:
        return not self.issues

    def to_dict(self) -> dict[str, Any]:
        return {"is_healthy": self.is_healthy, **self.model_dump()}
