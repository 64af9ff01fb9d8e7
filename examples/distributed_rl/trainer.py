"""The trainer: PPO with GAE on a batch of episodes; one optimizer step is one global step."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .buffer import Episode
from .config import TrainConfig
from .network import ActorCritic


@dataclass(frozen=True)
class StepLosses:
    """The losses of one optimizer step (logged as ``Loss/*`` events)."""

    total: float
    policy: float
    value: float
    entropy: float


class Trainer:
    """Owns the model and its Adam optimizer; ``update(episodes)`` yields one result per step."""

    def __init__(self, model: ActorCritic, config: TrainConfig, seed: int = 0) -> None:
        self.model = model
        self.config = config
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.LEARNING_RATE, eps=1e-5)
        self.generator = np.random.default_rng(seed)

    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def optimizer_steps(self) -> int:
        """Adam's own step count (restored with the optimizer state on resume)."""
        for state in self.optimizer.state.values():
            step = state.get("step")
            if step is not None:
                return int(step)
        return 0

    def _batch(self, episodes: list[Episode]) -> dict[str, torch.Tensor]:
        cfg = self.config
        obs = np.concatenate([e.obs for e in episodes])
        finals = np.stack([e.final_obs for e in episodes])
        with torch.no_grad():
            values = self.model.value(torch.from_numpy(obs)).squeeze(-1).numpy()
            final_values = self.model.value(torch.from_numpy(finals)).squeeze(-1).numpy()
        advantages = np.empty(len(obs), dtype=np.float32)
        start = 0
        for i, ep in enumerate(episodes):
            end = start + len(ep)
            v = values[start:end]
            next_v = np.append(v[1:], 0.0 if ep.terminated else final_values[i])
            deltas = ep.rewards + cfg.GAMMA * next_v - v
            gae = 0.0
            for t in range(len(ep) - 1, -1, -1):
                gae = deltas[t] + cfg.GAMMA * cfg.GAE_LAMBDA * gae
                advantages[start + t] = gae
            start = end
        returns = advantages + values
        return {
            "obs": torch.from_numpy(obs),
            "actions": torch.from_numpy(np.concatenate([e.actions for e in episodes])),
            "old_log_probs": torch.from_numpy(np.concatenate([e.log_probs for e in episodes])),
            "advantages": torch.from_numpy(advantages),
            "returns": torch.from_numpy(returns.astype(np.float32)),
        }

    def update(self, episodes: list[Episode]) -> Iterator[StepLosses]:
        """PPO epochs over ``episodes``: yields after every optimizer step."""
        cfg = self.config
        batch = self._batch(episodes)
        n = len(batch["obs"])
        size = min(cfg.MINIBATCH_SIZE, n)
        for _ in range(cfg.PPO_EPOCHS):
            order = torch.from_numpy(self.generator.permutation(n))
            for start in range(0, n - size + 1, size):
                idx = order[start : start + size]
                yield self._step({k: v[idx] for k, v in batch.items()})

    def _step(self, mb: dict[str, torch.Tensor]) -> StepLosses:
        cfg = self.config
        logits, values = self.model(mb["obs"])
        dist = torch.distributions.Categorical(logits=logits)
        log_probs = dist.log_prob(mb["actions"])  # type: ignore[no-untyped-call]
        adv = mb["advantages"]
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        ratio = torch.exp(log_probs - mb["old_log_probs"])
        clipped = torch.clamp(ratio, 1 - cfg.CLIP_EPSILON, 1 + cfg.CLIP_EPSILON)
        policy_loss = -torch.min(ratio * adv, clipped * adv).mean()
        value_loss = 0.5 * (values - mb["returns"]).pow(2).mean()
        entropy = dist.entropy().mean()  # type: ignore[no-untyped-call]
        loss = policy_loss + cfg.VALUE_COEF * value_loss - cfg.ENTROPY_COEF * entropy
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.MAX_GRAD_NORM)
        self.optimizer.step()
        return StepLosses(
            float(loss.item()),
            float(policy_loss.item()),
            float(value_loss.item()),
            float(entropy.item()),
        )

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.model.state_dict(), self.optimizer.state_dict()

    def load(self, model_state: dict[str, Any], optimizer_state: dict[str, Any]) -> None:
        self.model.load_state_dict(model_state)
        if optimizer_state:
            self.optimizer.load_state_dict(optimizer_state)
