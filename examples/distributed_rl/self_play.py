"""``SelfPlayWorker``: a Ray actor that plays CartPole episodes with the latest pushed weights.

It imports gymnasium and numpy only, never torch (the policy runs as :class:`NumpyPolicy`), logs through a
batching :class:`~labtrack.tracker.TrackerClient` (one ``episode_end`` event per episode with
``score``, ``length`` and ``trainer_step`` in its context, one ``step_reward`` event per step
when enabled, and ``env_steps`` with the episode's length), and returns whole episodes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .buffer import Episode
from .config import WorkerConfig
from .policy import NumpyPolicy, Weights


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
        self.env = gym.make(config.ENV_ID)
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
        while True:
            action, logp = policy.act(obs, rng)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            obs_l.append(obs)
            act_l.append(action)
            logp_l.append(logp)
            rew_l.append(float(reward))
            if log_steps:
                client.log_event("step_reward", float(reward), step)
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
        return episode

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def worker_class() -> Any:
    """``SelfPlayWorkerBody`` as a Ray actor class; a dead worker is replaced, not restarted."""
    import ray

    cls = type("SelfPlayWorker", (SelfPlayWorkerBody,), {"__module__": __name__})
    return ray.remote(max_restarts=0, num_cpus=0)(cls)
