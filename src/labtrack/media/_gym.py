"""EpisodeRecorder: a Gymnasium wrapper that logs scheduled episodes as videos.

Like Gymnasium's ``RecordVideo``, without moviepy: frames of ``render_mode="rgb_array"`` are
taken after ``reset`` and each ``step`` of a scheduled episode, downscaled as they arrive, and at
most ``max_frames`` of them are held; when the episode ends (or the env is reset or closed
before it did) they are logged with ``Run.log_video`` at step = the episode index, and the
episode's return and length as scalars ``<tag>/return`` and ``<tag>/length`` (for every
episode, captured or not). Logging problems are reported once and never reach the training loop.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np

from ..errors import ConfigError
from ._report import Reporter
from ._schedule import EpisodeCaptureSchedule


class EpisodeRecorder(gym.Wrapper):  # type: ignore[misc]
    """Log scheduled episodes of ``env`` into ``run`` (see the module docstring).

    >>> env = EpisodeRecorder(gym.make("CartPole-v1", render_mode="rgb_array"),  # doctest: +SKIP
    ...     EpisodeCaptureSchedule(every_n_episodes=10), run=run)

    Args:
        env: a Gymnasium env made with ``render_mode="rgb_array"``.
        schedule: which episodes to capture (episode 0 is the first ``reset``).
        run: the labtrack run; None means the current run when the episode ends.
        tag: the video tag, and the prefix of the return/length scalars.
        fps: frames per second of the video; None uses the env's ``render_fps`` (else 30).
        max_frames: frames kept per episode (the first ones); later frames are not rendered.
        max_size: longer side of a stored frame in pixels (None keeps the size).
        format: ``"mp4"`` (H.264, needs ``imageio-ffmpeg``) or ``"gif"``.
        total_episodes: how many episodes training runs; needed by ``last_n_episodes``.
    """

    def __init__(
        self,
        env: Any,
        schedule: EpisodeCaptureSchedule,
        *,
        run: Any = None,
        tag: str = "episode",
        fps: float | None = None,
        max_frames: int = 1000,
        max_size: int | None = 320,
        format: Literal["mp4", "gif"] = "mp4",
        total_episodes: int | None = None,
    ) -> None:
        super().__init__(env)
        if getattr(env, "render_mode", None) != "rgb_array":
            raise ConfigError(
                f"record_episodes needs an env made with render_mode='rgb_array', got "
                f"{getattr(env, 'render_mode', None)!r}: gym.make(..., render_mode='rgb_array')"
            )
        if schedule.last_n_episodes and total_episodes is None:
            raise ConfigError("schedule.last_n_episodes needs total_episodes=")
        if max_frames < 1:
            raise ConfigError(f"max_frames must be >= 1, got {max_frames}")
        self.schedule = schedule
        self.run = run
        self.tag = tag
        self.fps = float(fps or env.metadata.get("render_fps") or 30)
        self.max_frames = max_frames
        self.max_size = max_size
        self.format = format
        self.total_episodes = total_episodes or 0
        self.episode = -1  # index of the episode in progress
        self.failures = 0
        self._reporter = Reporter(f"record_episodes {tag!r}")
        self._frames: list[np.ndarray] = []
        self._capturing = False
        self._return = 0.0
        self._length = 0
        self._open = False  # an episode started and not yet logged

    @property
    def buffered_frames(self) -> int:
        """Frames held in memory for the episode in progress (never more than ``max_frames``)."""
        return len(self._frames)

    def reset(self, **kwargs: Any) -> Any:
        self._end_episode()
        observation, info = self.env.reset(**kwargs)
        self.episode += 1
        self._open = True
        self._return, self._length = 0.0, 0
        self._capturing = self.schedule.should_capture(self.episode, self.total_episodes)
        self._capture()
        return observation, info

    def step(self, action: Any) -> Any:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._return += float(reward)
        self._length += 1
        self._capture()
        if terminated or truncated:
            self._end_episode()
        return observation, reward, terminated, truncated, info

    def close(self) -> None:
        self._end_episode()
        super().close()

    def _capture(self) -> None:
        if not self._capturing or len(self._frames) >= self.max_frames:
            return
        try:
            frame = self.env.render()
            self._frames.append(_shrunk(np.asarray(frame), self.max_size))
        except Exception as exc:  # a renderer that fails costs the video, never the episode
            self._capturing = False
            self._frames.clear()
            self._failed("render", f"episode {self.episode}: cannot render a frame", exc)

    def _end_episode(self) -> None:
        if not self._open:
            return
        self._open = False
        frames, self._frames = self._frames, []
        from .._run import current_run

        run = self.run if self.run is not None else current_run()
        if run is None:
            return
        try:
            values = {f"{self.tag}/return": self._return, f"{self.tag}/length": self._length}
            run.log(values, step=self.episode)
            if frames:
                run.log_video(
                    self.tag,
                    frames,
                    fps=self.fps,
                    step=self.episode,
                    format=self.format,
                    max_frames=self.max_frames,
                    max_size=self.max_size,
                )
        except Exception as exc:  # the boundary: logging must not stop training
            self._failed("run", f"episode {self.episode}: not logged to run", exc)

    def _failed(self, kind: str, message: str, exc: BaseException) -> None:
        self._reporter.failed(kind, message, exc)
        self.failures = self._reporter.failures


def _shrunk(frame: np.ndarray, max_size: int | None) -> np.ndarray:
    """``frame`` with its longer side at most ``max_size`` (PIL box filter), as stored."""
    if max_size is None or max(frame.shape[:2]) <= max_size:
        return frame
    from PIL import Image

    height, width = frame.shape[:2]
    factor = max_size / max(height, width)
    width, height = round(width * factor), round(height * factor)
    size = (max(2, width - width % 2), max(2, height - height % 2))  # even, as H.264 needs
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BOX))
