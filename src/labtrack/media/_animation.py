"""EpisodeAnimationRecorder: scheduled episodes as GIFs plus JSON metadata, and into the run."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._frames import to_rgb_frames
from ._report import Reporter
from ._schedule import EpisodeCaptureSchedule

NO_FRAMES_WARNING = (
    "No frames were captured for this episode. Ensure the world was "
    "created with render_mode='rgb_array' and the environment's "
    "rendering dependencies are installed."
)


@dataclass(slots=True)
class EpisodeAnimationRecorder:
    """Save traced episode frames as GIF animations plus compact metadata.

    >>> recorder = EpisodeAnimationRecorder(Path("out/animations"),  # doctest: +SKIP
    ...     EpisodeCaptureSchedule(every_n_episodes=100), run=run)
    >>> if recorder.should_capture(episode, total):  # doctest: +SKIP
    ...     recorder(trace)

    Writes ``<prefix>_episode_<NNNN>_reward_<R>_avg_<A>.gif`` and, with ``save_metadata``, a
    ``.json`` beside it (episode, rewards, step count, solved, frame count, actions, active
    option ids, metadata). A trace without frames writes only the JSON, with a ``warning``; one
    whose frames cannot be drawn writes the JSON with an ``error`` and reports it once (see
    :mod:`labtrack.media`). With ``run`` (or a current run) the animation is also logged as the
    run's video ``<prefix>/episode`` at step ``trace.episode``.
    """

    output_dir: Path
    schedule: EpisodeCaptureSchedule = field(default_factory=EpisodeCaptureSchedule)
    prefix: str = "training"
    fps: int = 30
    max_frames: int | None = None  # frames after this many are dropped (None or 0: keep all)
    save_metadata: bool = True
    run: Any = None  # a labtrack Run; None: the current run, if any
    video_format: Literal["gif", "mp4"] = "gif"  # how the run records it; mp4 needs [media]
    failures: int = field(default=0, init=False)
    _reporter: Reporter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        self._reporter = Reporter(f"animation recorder {self.prefix!r}")

    def should_capture(self, episode: int, total_episodes: int) -> bool:
        return self.schedule.should_capture(episode, total_episodes)

    def __call__(self, trace: Any) -> None:
        """Write the episode's files (and log it to the run); never raises for bad input."""
        stem = self._episode_stem(trace)
        try:
            frames = to_rgb_frames(trace.frames, self.max_frames)
            if frames and not (isinstance(self.fps, int | float) and self.fps > 0):
                raise ValueError(f"fps must be > 0, got {self.fps!r}")
        except ValueError as exc:
            self._save_metadata(trace, stem, error=f"no animation written: {exc}")
            self._failed("frames", f"episode {trace.episode}: no animation written", exc)
            return
        if not frames:
            self._save_metadata(trace, stem, warning=NO_FRAMES_WARNING)
            return
        if self._write_gif(trace, stem, frames):
            self._save_metadata(trace, stem)
        self._log_to_run(trace, frames)

    def _write_gif(self, trace: Any, stem: str, frames: list[Any]) -> bool:
        from PIL import Image

        images = [Image.fromarray(frame) for frame in frames]
        buffer = io.BytesIO()
        images[0].save(
            buffer,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(int(1000 / max(self.fps, 1)), 1),
            loop=0,
        )
        return self._write(trace, self.output_dir / f"{stem}.gif", buffer.getvalue())

    def _save_metadata(self, trace: Any, stem: str, **extra: str) -> None:
        if not self.save_metadata:
            return
        payload = {**self._trace_metadata(trace), **extra}
        text = json.dumps(payload, indent=2, default=str) + "\n"
        self._write(trace, self.output_dir / f"{stem}.json", text.encode())

    def _write(self, trace: Any, path: Path, data: bytes) -> bool:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError as exc:
            self._failed("write", f"episode {trace.episode}: cannot write {path}", exc)
            return False
        return True

    def _log_to_run(self, trace: Any, frames: list[Any]) -> None:
        from .._run import current_run

        run = self.run if self.run is not None else current_run()
        if run is None:
            return
        try:
            run.log_video(
                f"{self.prefix}/episode",
                frames,
                fps=self.fps,
                step=int(trace.episode),
                format=self.video_format,
                max_frames=len(frames),
            )
        except Exception as exc:  # the boundary: a run that refuses must not stop training
            self._failed("run", f"episode {trace.episode}: not logged to run", exc)

    def _failed(self, kind: str, message: str, exc: BaseException) -> None:
        self._reporter.failed(kind, message, exc)
        self.failures = self._reporter.failures

    def _episode_stem(self, trace: Any) -> str:
        return (
            f"{self.prefix}_episode_{trace.episode:04d}"
            f"_reward_{_rounded(trace.episode_reward)}"
            f"_avg_{_rounded(trace.avg_reward)}"
        )

    def _trace_metadata(self, trace: Any) -> dict[str, Any]:
        return {
            "episode": trace.episode,
            "episode_reward": trace.episode_reward,
            "avg_reward": trace.avg_reward,
            "step_count": trace.step_count,
            "solved": trace.solved,
            "frame_count": len(trace.frames),
            "actions": [_plain(step.action) for step in trace.steps],
            "active_option_ids": [_plain(step.active_option_id) for step in trace.steps],
            "metadata": dict(trace.metadata),
        }


def _rounded(value: float) -> str:
    """The document's ``int(round(x))``; ``nan``/``inf`` spelled out instead of crashing."""
    number = float(value)
    return str(round(number)) if math.isfinite(number) else str(number)


def _plain(value: Any) -> Any:
    """numpy scalars (what envs return as actions) as the Python numbers JSON can hold."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "ndim", None) == 0 else value
