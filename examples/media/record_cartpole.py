"""Record CartPole training into a labtrack run: episode videos, GIFs with metadata and curves.

    pip install "labtrack[media,viewer]"
    python examples/media/record_cartpole.py --episodes 60
    labtrack ui out          # Media tab: the episodes; Scalars: episode/*; Figures: the curve

A tiny hill-climbing linear policy is trained on Gymnasium's real ``CartPole-v1``:

- ``record_episodes`` wraps the env and logs every 20th and the last episode as an MP4 video
  (with ``episode/return`` and ``episode/length`` for every episode);
- ``EpisodeAnimationRecorder`` writes the document's GIF + JSON per scheduled episode under
  ``out/media/animations`` and logs the GIF as the run's video ``cartpole/episode``;
- ``TrainingCurveRecorder`` keeps reward histories, logs ``episode/reward`` etc. as scalars and
  writes SVG/PNG curves and the history JSON under ``out/media/curves``.
"""

from __future__ import annotations

import argparse
from collections import deque
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np

import labtrack
from labtrack.media import (
    EpisodeAnimationRecorder,
    EpisodeCaptureSchedule,
    EpisodeStep,
    EpisodeTrace,
    TrainingCurveRecorder,
    record_episodes,
)


class HillClimber:
    """A linear policy improved by random perturbations: enough to see the reward rise."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.best = rng.normal(size=4)
        self.best_return = -np.inf
        self.candidate = self.best
        self.epsilon = 1.0  # perturbation scale, shown as "epsilon" in the curves

    def act(self, observation: np.ndarray) -> int:
        return int(observation @ self.candidate > 0)

    def propose(self) -> None:
        self.candidate = self.best + self.epsilon * self.rng.normal(size=4)

    def learn(self, episode_return: float) -> None:
        if episode_return >= self.best_return:
            self.best, self.best_return = self.candidate, episode_return
        self.epsilon = max(0.05, self.epsilon * 0.95)

    def training_metrics(self) -> dict[str, float]:
        return {"policy_weight_norm": float(np.linalg.norm(self.best))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--dir", default="out")
    args = parser.parse_args()
    total = args.episodes
    schedule = EpisodeCaptureSchedule(every_n_episodes=20, last_n_episodes=1)
    media_dir = Path(args.dir) / "media"
    policy = HillClimber(np.random.default_rng(0))
    agent = SimpleNamespace(reactive_policy=policy)
    with labtrack.start_run("cartpole", config={"episodes": total}, dir=args.dir) as run:
        env = record_episodes(
            gym.make("CartPole-v1", render_mode="rgb_array"),
            schedule,
            run=run,
            total_episodes=total,
        )
        animations = EpisodeAnimationRecorder(
            media_dir / "animations", schedule, prefix="cartpole", fps=50, max_frames=150, run=run
        )
        curves = TrainingCurveRecorder(
            media_dir / "curves", prefix="cartpole", average_window=10, run=run
        )
        recent: deque[float] = deque(maxlen=10)
        for episode in range(total):
            policy.propose()
            observation, _ = env.reset(seed=episode)
            capture = animations.should_capture(episode, total)
            frames, steps, episode_return, done = [], [], 0.0, False
            while not done:
                if capture:  # half size: the document's GIFs keep every pixel they are given
                    frames.append(env.render()[::2, ::2])
                action = policy.act(observation)
                observation, reward, terminated, truncated, _ = env.step(action)
                steps.append(EpisodeStep(action=action))
                episode_return += float(reward)
                done = terminated or truncated
            policy.learn(episode_return)
            recent.append(episode_return)
            avg = float(np.mean(recent))
            curves.log_episode(episode, episode_return, avg, agent)
            if capture:
                animations(
                    EpisodeTrace(
                        episode,
                        episode_return,
                        avg,
                        len(steps),
                        episode_return >= 475,
                        frames,
                        steps,
                    )
                )
        env.close()
        curves.save()
        print(f"run {run.id}: best return {max(curves.reward_history):.0f}; files in {media_dir}")


if __name__ == "__main__":
    main()
