"""Configuration of the pipeline: who the run is (``RunContext``) and how it trains (pydantic).

``RunContext`` names the run: the same ``run_name`` in the same ``data_dir`` resumes it.
``TrainConfig`` (loop, PPO and persistence cadence), ``ModelConfig`` (the network) and
``WorkerConfig`` (the episode workers, the document's "search settings") are pydantic models, so a
bad value fails with a message naming the field before Ray starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

APP_NAME = "DistributedRL"


def default_run_name() -> str:
    return f"cartpole_{time.strftime('%Y%m%d_%H%M%S')}"


@dataclass(frozen=True)
class RunContext:
    """Which run this is and where its data goes.

    Example::

        RunContext(run_name="cartpole_1", data_dir=".labtrack_data", seed=0)
    """

    run_name: str = field(default_factory=default_run_name)
    data_dir: str = ".labtrack_data"  # a labtrack store: `labtrack ui <data_dir>` shows the run
    seed: int = 0
    resume: bool = True  # load the run's latest checkpoint when it has one
    overrides: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields from the CLI
    worker_overrides: dict[str, Any] = field(default_factory=dict)  # WorkerConfig fields


class ModelConfig(BaseModel):
    """The actor-critic network: two MLPs with tanh activations."""

    model_config = ConfigDict(extra="forbid")

    OBS_DIM: int = 4  # CartPole-v1 observation size
    NUM_ACTIONS: int = 2
    HIDDEN_SIZES: list[int] = Field(default_factory=lambda: [64, 64])


class WorkerConfig(BaseModel):
    """The episode workers (the document's self-play and search settings)."""

    model_config = ConfigDict(extra="forbid")

    ENV_ID: str = "CartPole-v1"
    STEPS_PER_TASK: int = Field(default=512, ge=1)  # a task plays whole episodes until this many
    LOG_STEP_EVENTS: bool = True  # one `step_reward` event per environment step
    # worker 0 records one of every N of its episodes (its first included) as the video
    # `Video/Episode`, at most one per global step; 0: no videos, and no env rendering at all
    VIDEO_EVERY_EPISODES: int = Field(default=1000, ge=0)
    VIDEO_FRAME_SKIP: int = Field(default=2, ge=1)  # a frame every N env steps (CartPole: 50/N fps)


class TrainConfig(BaseModel):
    """The training loop: PPO with GAE on worker-collected episodes.

    One global step is one optimizer step (a PPO minibatch). An update takes the buffer once it
    holds ``ROLLOUT_STEPS`` transitions (the buffer is "warm") and runs ``PPO_EPOCHS`` passes of
    ``ROLLOUT_STEPS // MINIBATCH_SIZE`` minibatches over it.
    """

    model_config = ConfigDict(extra="forbid")

    NUM_WORKERS: int = Field(default=2, ge=1)  # capped at the CPUs Ray detects
    MAX_TRAINING_STEPS: int | None = Field(default=None, ge=1)  # stop at this global step
    MAX_MINUTES: float | None = Field(default=10.0, gt=0)  # stop after this much wall time
    TARGET_MEAN_SCORE: float | None = 195.0  # stop once the mean score reaches it (None: never)
    SCORE_WINDOW: int = Field(default=100, ge=1)  # episodes in the mean score (CartPole: 100)
    # PPO
    ROLLOUT_STEPS: int = Field(default=2048, ge=1)
    MINIBATCH_SIZE: int = Field(default=256, ge=1)
    PPO_EPOCHS: int = Field(default=4, ge=1)
    LEARNING_RATE: float = Field(default=1e-3, gt=0)
    GAMMA: float = Field(default=0.99, gt=0, le=1)
    GAE_LAMBDA: float = Field(default=0.95, ge=0, le=1)
    CLIP_EPSILON: float = Field(default=0.2, gt=0)
    VALUE_COEF: float = Field(default=0.5, ge=0)
    ENTROPY_COEF: float = Field(default=0.0, ge=0)
    MAX_GRAD_NORM: float = Field(default=0.5, gt=0)
    # cadence, in global steps
    WORKER_UPDATE_FREQ_STEPS: int = Field(default=32, ge=1)  # push weights to the workers
    # ~100 updates: every 8-10 s at this pipeline's speed on 2 CPUs (a kill loses at most that)
    CHECKPOINT_SAVE_FREQ_STEPS: int = Field(default=3200, ge=1)
    BUFFER_SAVE_FREQ_STEPS: int = Field(default=3200, ge=1)
    KEEP_LAST_N_CHECKPOINTS: int = Field(default=5, ge=1)
    # tracking
    TRACKING: bool = True  # False: no tracker, no events, no checkpoints (the bench's baseline)
    MLFLOW: bool = False  # mirror the run to MLflow (needs labtrack[mlflow])
    PROCESSING_INTERVAL_SECONDS: float = Field(default=1.0, gt=0)
    PROGRESS_INTERVAL_SECONDS: float = Field(default=5.0, gt=0)  # console progress lines
    DEVICE: str = "cpu"
