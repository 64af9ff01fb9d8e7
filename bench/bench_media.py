"""Encoding a 500-frame 600×400 episode: labtrack's GIF and MP4 next to Gymnasium's RecordVideo.

    python bench/bench_media.py            # 500 frames of real CartPole-v1, 3 repeats
    python bench/bench_media.py --quick    # 60 frames, 1 repeat (the smoke test)

Frames are rendered once from Gymnasium's ``CartPole-v1`` (``render_mode="rgb_array"``, 600×400)
and kept in memory, so only encoding is timed. Measured per format: seconds to encode, output
bytes, bytes per frame, and the raw frames' size for scale:

- ``Run.log_video(format="mp4")``: H.264 through imageio-ffmpeg, downscaled to 320 px;
- ``Run.log_video(format="gif")``: Pillow, downscaled to 320 px, no dithering;
- ``Run.log_video(..., max_size=None)``: the same at full size;
- Gymnasium's ``RecordVideo`` (needs moviepy): the same frames replayed through the wrapper
  with a stub env, so its own encoding (moviepy -> ffmpeg, full size) is what is timed. When
  moviepy does not import the row says why instead.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import numpy as np


def cartpole_frames(count: int) -> list[np.ndarray]:
    import gymnasium as gym

    env = gym.make("CartPole-v1", render_mode="rgb_array", max_episode_steps=count)
    env.reset(seed=0)
    env.action_space.seed(0)
    frames = [env.render()]
    while len(frames) < count:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        frames.append(env.render())
        if terminated or truncated:
            env.reset()
    env.close()
    return frames


def time_labtrack(frames, fmt: str, max_size: int | None, repeat: int) -> tuple[list[float], int]:
    import labtrack

    seconds, size = [], 0
    with tempfile.TemporaryDirectory() as root, labtrack.start_run("bench", dir=root) as run:
        for i in range(repeat):
            started = time.perf_counter()
            run.log_video("v", frames, fps=50, step=i, format=fmt, max_size=max_size)
            seconds.append(time.perf_counter() - started)
        run.flush()
        size = labtrack.Store(root).runs()[0].videos("v")[-1].path.stat().st_size
    return seconds, size


def time_record_video(frames, repeat: int) -> tuple[list[float], int] | str:
    """Gymnasium's RecordVideo over the same frames, or why it cannot run here."""
    try:
        import moviepy  # noqa: F401
    except Exception as exc:  # moviepy missing or broken: report, not fail
        return f"moviepy does not import ({type(exc).__name__}: {exc}); pip install moviepy"
    import gymnasium as gym
    from gymnasium.wrappers import RecordVideo

    class Replay(gym.Env):
        metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 50}
        render_mode = "rgb_array"
        observation_space = gym.spaces.Box(-1, 1, (1,))
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            self.i = 0
            return np.zeros(1, np.float32), {}

        def step(self, action):
            self.i += 1
            return np.zeros(1, np.float32), 1.0, self.i >= len(frames) - 1, False, {}

        def render(self):
            return frames[min(self.i, len(frames) - 1)]

    seconds, size = [], 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "videos"
            started = time.perf_counter()  # capture + encoding: it encodes when the episode ends
            env = RecordVideo(
                Replay(), str(out), episode_trigger=lambda e: True, disable_logger=True
            )
            env.reset()
            done = False
            while not done:
                _, _, done, _, _ = env.step(0)
            env.close()
            seconds.append(time.perf_counter() - started)
            size = sum(p.stat().st_size for p in out.glob("*.mp4"))
    return seconds, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="60 frames, 1 repeat")
    args = parser.parse_args()
    count, repeat = (60, 1) if args.quick else (args.frames, args.repeat)
    frames = cartpole_frames(count)
    raw = sum(f.nbytes for f in frames)
    print(
        f"# {count} frames of CartPole-v1 at {frames[0].shape[1]}×{frames[0].shape[0]}: raw {raw / 1e6:.1f} MB"
    )
    rows: list[tuple[str, str, str, str]] = []
    cases = [("labtrack mp4, 320 px", "mp4", 320), ("labtrack gif, 320 px", "gif", 320),
             ("labtrack mp4, full size", "mp4", None), ("labtrack gif, full size", "gif", None)]  # fmt: skip
    for name, fmt, max_size in cases:
        seconds, size = time_labtrack(frames, fmt, max_size, repeat)
        rows.append(
            (name, f"{statistics.median(seconds):.2f}", f"{size:,}", f"{size / count:,.0f}")
        )
    gym_result = time_record_video(frames, repeat)
    if isinstance(gym_result, str):
        rows.append(("gymnasium RecordVideo (moviepy)", "-", "-", gym_result))
    else:
        seconds, size = gym_result
        rows.append(("gymnasium RecordVideo (moviepy), full size", f"{statistics.median(seconds):.2f}",
                     f"{size:,}", f"{size / count:,.0f}"))  # fmt: skip
    print("\n## Summary (Markdown)\n")
    print("| Encoder | seconds (median) | bytes | bytes per frame |")
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
