"""The Stable-Baselines3 run of ``labtrack demo``: real PPO on CartPole-v1 for a few seconds,
recorded by :class:`~labtrack.integrations.sb3.TrackingCallback` into the demo's store."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..tracking import SyncMLTracker
from ..tracking._labtrack import LabtrackBackend


def sb3_demo(out_dir: str | Path, steps: int = 2048, seed: int = 0) -> str:
    """Train PPO on CartPole-v1 for ``steps`` steps into the store ``out_dir``; returns the run
    id. Needs the ``sb3`` extra (stable-baselines3 and gymnasium)."""
    from stable_baselines3 import PPO

    from .sb3 import TrackingCallback

    tracker = SyncMLTracker(LabtrackBackend(out_dir))
    with tempfile.TemporaryDirectory() as models:  # the run keeps its own copies
        callback = TrackingCallback(
            experiment_name="demo-sb3",
            config={"algorithm": "PPO", "env": "CartPole-v1", "steps": steps, "seed": seed},
            eval_freq=max(steps // 2, 1),
            save_freq=max(steps // 2, 1),
            n_eval_episodes=3,
            best_model_save_path=models,
            tracker=tracker,
        )
        model = PPO("MlpPolicy", "CartPole-v1", n_steps=512, batch_size=64, seed=seed, device="cpu")
        model.learn(steps, callback=callback)
    assert callback.run is not None
    return callback.run.run_id
