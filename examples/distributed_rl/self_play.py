"""``SelfPlayWorker``: a Ray actor that plays CartPole episodes with the latest pushed weights.

It imports gymnasium and numpy only, never torch (the policy runs as :class:`NumpyPolicy`), logs through a
batching :class:`~labtrack.tracker.TrackerClient` (one ``episode_end`` event per episode with
``score``, ``length`` and ``trainer_step`` in its context, one ``step_reward`` event per step
when enabled, and ``env_steps`` with the episode's length), and returns whole episodes.

Videos: worker 0 records one of every ``VIDEO_EVERY_EPISODES`` of its episodes (its first
included) as ``Video/Episode`` at the global step of the weights that played it, at most one per
global step (a video due while the weights have not changed waits for new ones). The env renders
(``render_mode="rgb_array"``) only while recording, every ``VIDEO_FRAME_SKIP``-th step, each
frame halved as it arrives; the client encodes the MP4 here and sends its few kilobytes to the
tracker actor. With ``VIDEO_EVERY_EPISODES=0``, or on the other workers, the env does not render
at all. A video that cannot be made is logged and costs only itself, never the episode.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .buffer import Episode
from .config import WorkerConfig
from .policy import NumpyPolicy, Weights

log = logging.getLogger(__name__)
VIDEO_TAG = "Video/Episode"
VIDEO_MAX_SIZE = 320  # pixels, the longer side: CartPole's 600×400 frames become 300×200


@dataclass
class SelfPlayResult:
    """What one task returns: its episodes and which worker and weights produced them."""

    worker_id: int
    trainer_step: int
    episodes: list[Episode]

    @property
    def env_steps(self) -> int:
        return sum(len(e) for e in self.episodes)


class SelfPlayWorkerBody:
    """The worker's methods (wrapped with ``ray.remote`` by :func:`worker_class`)."""

    def __init__(
        self,
        worker_id: int,
        config: WorkerConfig,
        seed: int,
        tracker_actor_name: str | None,
        run_base_dir: str | None,
    ) -> None:
        import gymnasium as gym

        self.worker_id = worker_id
        self.config = config
        self.run_base_dir = run_base_dir  # where the run's files live (unused by CartPole)
        recording = worker_id == 0 and tracker_actor_name is not None
        self.video_every = config.VIDEO_EVERY_EPISODES if recording else 0
        self.env = gym.make(config.ENV_ID, render_mode="rgb_array" if self.video_every else None)
        self.episodes = 0  # played by this worker
        self._video_due = False
        self._last_video_step = -1
        self.rng = np.random.default_rng(seed)
        self.obs, _ = self.env.reset(seed=seed)
        self.policy: NumpyPolicy | None = None
        self.trainer_step = 0
        self.client: Any = None
        if tracker_actor_name is not None:
            from labtrack.tracker import TrackerClient

            # Large batches, many in flight: on a small machine the tracker actor shares the
            # cores with the workers, and a worker waiting for it is throughput lost.
            self.client = TrackerClient(tracker_actor_name, batch_size=16_384, max_in_flight=16)

    def get_pid(self) -> int:
        return os.getpid()

    def set_weights(self, update: tuple[int, Weights]) -> int:
        """Adopt weights pushed by the loop: ``(global_step, weights)``; returns the step."""
        self.trainer_step, weights = update
        self.policy = NumpyPolicy(weights)
        return self.trainer_step

    def run_episodes(self, min_steps: int | None = None) -> SelfPlayResult:
        """Play whole episodes until at least ``min_steps`` steps were played."""
        assert self.policy is not None, "set_weights() first"
        want = min_steps or self.config.STEPS_PER_TASK
        episodes: list[Episode] = []
        played = 0
        while played < want:
            episodes.append(self._episode())
            played += len(episodes[-1])
        return SelfPlayResult(self.worker_id, self.trainer_step, episodes)

    def _episode(self) -> Episode:
        env, policy, rng, client = self.env, self.policy, self.rng, self.client
        assert policy is not None
        obs_l, act_l, logp_l, rew_l = [], [], [], []
        obs = self.obs
        step = self.trainer_step
        log_steps = client is not None and self.config.LOG_STEP_EVENTS
        frames = self._start_video(step)
        skip = self.config.VIDEO_FRAME_SKIP
        while True:
            action, logp = policy.act(obs, rng)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            obs_l.append(obs)
            act_l.append(action)
            logp_l.append(logp)
            rew_l.append(float(reward))
            if log_steps:
                client.log_event("step_reward", float(reward), step)
            if frames is not None and len(rew_l) % skip == 0:
                frames.append(self._frame())
            obs = next_obs
            if terminated or truncated:
                break
        episode = Episode(
            obs=np.asarray(obs_l, dtype=np.float32),
            actions=np.asarray(act_l, dtype=np.int64),
            log_probs=np.asarray(logp_l, dtype=np.float32),
            rewards=np.asarray(rew_l, dtype=np.float32),
            final_obs=np.asarray(obs, dtype=np.float32),
            terminated=bool(terminated),
            trainer_step=step,
            worker_id=self.worker_id,
        )
        self.obs, _ = env.reset(seed=int(rng.integers(2**31)))
        if client is not None:
            context = {"score": episode.score, "length": len(episode), "trainer_step": step}
            client.log_event("episode_end", 1.0, step, context)
            client.log_event("env_steps", float(len(episode)), step)
        if frames is not None:
            self._send_video(frames, step)
        return episode

    # --- videos -------------------------------------------------------------------------
    def _start_video(self, step: int) -> list[np.ndarray] | None:
        """The frame list of a recorded episode (its first frame: the start), or None."""
        if not self.video_every:
            return None
        if self.episodes % self.video_every == 0:
            self._video_due = True
        self.episodes += 1
        if not self._video_due or step == self._last_video_step:
            return None
        try:
            return [self._frame()]
        except Exception:  # no renderer (gymnasium without pygame): train on, without videos
            log.warning(
                "worker %d: the env cannot render; no videos", self.worker_id, exc_info=True
            )
            self.video_every = 0
            return None

    def _frame(self) -> np.ndarray:
        """The env's picture, shrunk by an integer factor at once: 600×400×3 is 720 KB a frame,
        and a whole 500-step episode of them would be 360 MB."""
        from PIL import Image

        frame = np.asarray(self.env.render())
        factor = math.ceil(max(frame.shape[:2]) / VIDEO_MAX_SIZE)
        return frame if factor <= 1 else np.asarray(Image.fromarray(frame).reduce(factor))

    def _send_video(self, frames: list[np.ndarray], step: int) -> None:
        self._video_due = False
        self._last_video_step = step
        fps = self.env.metadata.get("render_fps", 50) / self.config.VIDEO_FRAME_SKIP
        try:  # encoded here; the tracker actor receives the MP4's bytes
            self.client.log_video(VIDEO_TAG, frames, step, fps, max_size=VIDEO_MAX_SIZE)
        except Exception:  # the boundary: a video costs only itself, never the episode
            log.warning(
                "worker %d: the video at step %d failed", self.worker_id, step, exc_info=True
            )

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def worker_class() -> Any:
    """``SelfPlayWorkerBody`` as a Ray actor class; a dead worker is replaced, not restarted."""
    import ray

    cls = type("SelfPlayWorker", (SelfPlayWorkerBody,), {"__module__": __name__})
    return ray.remote(max_restarts=0, num_cpus=0)(cls)
