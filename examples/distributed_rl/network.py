"""The actor-critic network (PyTorch), trained centrally.

Workers run its policy as :class:`~.policy.NumpyPolicy` on the weights ``to_numpy`` gives.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from .config import ModelConfig
from .policy import Weights


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Policy logits and state value from two separate MLPs."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        hidden = list(config.HIDDEN_SIZES)
        self.policy = _mlp([config.OBS_DIM, *hidden, config.NUM_ACTIONS])
        self.value = _mlp([config.OBS_DIM, *hidden, 1])
        last = self.policy[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():  # a near-uniform initial policy (as in common PPO setups)
            last.weight.mul_(0.01)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.policy(obs), self.value(obs).squeeze(-1)


def to_numpy(model: ActorCritic) -> Weights:
    """The policy's weights as numpy arrays (what workers receive)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.policy.state_dict().items()}


def param_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
