"""The policy's forward pass in numpy, as the episode workers run it.

Workers only need the policy, one observation at a time: numpy does that in a few microseconds
where a torch call costs tens, and the workers never import torch (starting a Ray worker that
imports torch takes seconds, and much longer on a loaded machine). ``NumpyPolicy(weights)`` is
the same function as ``ActorCritic.policy`` for ``weights = network.to_numpy(model)``.
"""

from __future__ import annotations

import numpy as np

Weights = dict[str, np.ndarray]


class NumpyPolicy:
    """``ActorCritic.policy`` evaluated with numpy: ``act(obs, rng) -> (action, log_prob)``."""

    def __init__(self, weights: Weights) -> None:
        n = len(weights) // 2
        keys = sorted({k.split(".")[0] for k in weights}, key=int)
        assert len(keys) == n
        self.layers = [(weights[f"{k}.weight"].T.copy(), weights[f"{k}.bias"]) for k in keys]

    def logits(self, obs: np.ndarray) -> np.ndarray:
        h = obs
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < last:
                h = np.tanh(h)
        return h

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> tuple[int, float]:
        z = self.logits(obs.astype(np.float32))
        z = z - z.max()
        p = np.exp(z)
        p /= p.sum()
        action = int(rng.random() >= p[0]) if len(p) == 2 else int(rng.choice(len(p), p=p))
        return action, float(np.log(p[action] + 1e-12))
