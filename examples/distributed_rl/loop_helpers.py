"""``LoopHelpers``: console progress lines with an ETA, experience checks, the stop conditions."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .buffer import Episode
from .config import TrainConfig

MILESTONES = (50.0, 100.0, 150.0, 195.0)  # mean scores the loop reports reaching


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


@dataclass
class LoopHelpers:
    """Small, stateless-by-design helpers for :class:`~.loop.TrainingLoop`."""

    config: TrainConfig

    def eta_seconds(
        self, global_step: int, start_step: int, elapsed: float, run_time: float
    ) -> float:
        """Seconds left: by steps when ``MAX_TRAINING_STEPS`` is set, else by ``MAX_MINUTES``."""
        cfg = self.config
        by_steps = by_time = math.inf
        if cfg.MAX_TRAINING_STEPS is not None and global_step > start_step and elapsed > 0:
            rate = (global_step - start_step) / elapsed
            by_steps = (cfg.MAX_TRAINING_STEPS - global_step) / rate
        if cfg.MAX_MINUTES is not None:
            by_time = cfg.MAX_MINUTES * 60 - run_time
        return max(0.0, min(by_steps, by_time))

    def progress_line(
        self,
        *,
        global_step: int,
        episodes: int,
        env_steps: int,
        env_steps_per_sec: float,
        mean_score: float,
        buffer_size: int,
        workers: int,
        eta: float,
    ) -> str:
        target = f"/{self.config.MAX_TRAINING_STEPS}" if self.config.MAX_TRAINING_STEPS else ""
        return (
            f"step {global_step}{target} | episodes {episodes:,} | env steps {env_steps:,} "
            f"({env_steps_per_sec:,.0f}/s) | mean score {mean_score:.1f} | "
            f"buffer {buffer_size:,} | workers {workers} | ETA {format_duration(eta)}"
        )

    @staticmethod
    def valid_episode(episode: Episode, obs_dim: int) -> bool:
        """Reject malformed experience before it reaches the trainer."""
        n = len(episode.actions)
        return (
            n > 0
            and episode.obs.shape == (n, obs_dim)
            and len(episode.log_probs) == n
            and len(episode.rewards) == n
            and bool(math.isfinite(float(episode.obs.sum())))
        )

    def stop_reason(
        self, global_step: int, run_time: float, mean_score: float, n_scores: int
    ) -> str | None:
        """Why training should stop now, or None."""
        cfg = self.config
        if cfg.MAX_TRAINING_STEPS is not None and global_step >= cfg.MAX_TRAINING_STEPS:
            return f"reached {cfg.MAX_TRAINING_STEPS} training steps"
        if cfg.MAX_MINUTES is not None and run_time >= cfg.MAX_MINUTES * 60:
            return f"ran {cfg.MAX_MINUTES:g} minutes"
        if (
            cfg.TARGET_MEAN_SCORE is not None
            and n_scores >= cfg.SCORE_WINDOW
            and mean_score >= cfg.TARGET_MEAN_SCORE
        ):
            return f"mean score {mean_score:.1f} >= {cfg.TARGET_MEAN_SCORE:g}"
        return None
