"""The experience buffer: whole episodes, as workers return them, until the trainer takes them.

PPO learns on-policy, so the buffer holds the episodes collected since the last update (each
with the log-probabilities of the policy that played it). ``take(n)`` hands the oldest episodes
holding at least ``n`` transitions to the trainer; what arrived after stays for the next update.
The buffer is saved with checkpoints and restored on resume, so no collected episode is lost.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class Episode:
    """One finished episode, played by one policy version (``trainer_step``)."""

    obs: np.ndarray  # (T, obs_dim) float32
    actions: np.ndarray  # (T,) int64
    log_probs: np.ndarray  # (T,) float32, of the behaviour policy
    rewards: np.ndarray  # (T,) float32
    final_obs: np.ndarray  # (obs_dim,) observation after the last step
    terminated: bool  # False: truncated (time limit), bootstrapped from final_obs's value
    trainer_step: int  # the global step of the weights that played it
    worker_id: int

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def score(self) -> float:
        return float(self.rewards.sum())


class ExperienceBuffer:
    """Episodes waiting for the trainer (see the module docstring)."""

    def __init__(self) -> None:
        self._episodes: deque[Episode] = deque()
        self._steps = 0

    def add(self, episode: Episode) -> None:
        self._episodes.append(episode)
        self._steps += len(episode)

    def __len__(self) -> int:
        """Transitions held."""
        return self._steps

    def is_ready(self, n: int) -> bool:
        """Warm: at least ``n`` transitions are waiting."""
        return self._steps >= n

    def take(self, n: int) -> list[Episode]:
        """The oldest episodes holding at least ``n`` transitions (removed from the buffer)."""
        out: list[Episode] = []
        got = 0
        while self._episodes and got < n:
            ep = self._episodes.popleft()
            out.append(ep)
            got += len(ep)
        self._steps -= got
        return out

    def content(self) -> list[Episode]:
        """What is saved with a checkpoint."""
        return list(self._episodes)

    def load(self, episodes: list[Episode]) -> None:
        self._episodes = deque(episodes)
        self._steps = sum(len(e) for e in episodes)

    def fingerprint(self) -> str:
        """A short hash of the content (printed on save and resume, compared by the tests)."""
        return fingerprint(self.content())


def fingerprint(episodes: list[Episode]) -> str:
    h = hashlib.sha256()
    for ep in episodes:
        h.update(ep.obs.tobytes())
        h.update(ep.actions.tobytes())
    return h.hexdigest()[:12]
