"""Data passed to and returned by a tracker: raw events, checkpoints, buffers, loaded state.

Validation happens where these are built, on the caller's side, so a wrong type fails there with
a message naming the field, never inside the tracker::

    RawMetricEvent(name="Loss/Total", value=0.25, global_step=10)
    RawMetricEvent(name="episode_end", value=1, global_step=10, context={"score": 42.0})
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class RawMetricEvent(BaseModel):
    """One raw data point sent by a training loop or a worker.

    ``value`` may be NaN or infinite: such events are skipped (and counted) by the tracker.
    ``timestamp`` (trieye's optional field) is the time the event happened, in epoch seconds.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: StrictStr = Field(min_length=1)
    value: float
    global_step: int = Field(ge=0)
    context: dict[str, Any] = Field(default_factory=dict)
    #: when the event happened (epoch seconds, ``time.time()``); None: when the tracker got it.
    #: Used as the event's time on the ``wall_time`` x axis.
    timestamp: float | None = None

    def is_finite(self) -> bool:
        """True when ``value`` is a finite number."""
        return math.isfinite(self.value)

    def is_valid(self) -> bool:
        """trieye's name for :meth:`is_finite`."""
        return self.is_finite()


class CheckpointData(BaseModel):
    """Everything a checkpoint file holds. State dicts are already on the CPU."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    run_name: str
    global_step: int = Field(ge=0)
    episodes_played: int = Field(default=0, ge=0)
    total_simulations_run: int = Field(default=0, ge=0)
    model_state_dict: dict[str, Any] = Field(default_factory=dict)
    optimizer_state_dict: dict[str, Any] = Field(default_factory=dict)
    actor_state: dict[str, Any] = Field(default_factory=dict)  # the tracker's own step state
    user_data: dict[str, Any] = Field(default_factory=dict)
    model_config_dict: dict[str, Any] = Field(default_factory=dict)
    env_config_dict: dict[str, Any] = Field(default_factory=dict)


class BufferData(BaseModel):
    """A saved replay buffer: any list of picklable items."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    buffer_list: list[Any] = Field(default_factory=list)


class LoadedTrainingState(BaseModel):
    """What ``load_initial_state()`` found; both fields ``None`` when there is nothing to resume."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    checkpoint_data: CheckpointData | None = None
    buffer_data: BufferData | None = None
    checkpoint_path: str | None = None  # file the checkpoint was read from
    buffer_path: str | None = None
