from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("stable_baselines3")

import labtrack
from labtrack.integrations._demo import sb3_demo


def test_sb3_demo_records_a_ppo_run_into_the_store(workdir: Path) -> None:
    run_id = sb3_demo(workdir / "out", steps=512)
    view = labtrack.Store(workdir / "out").run(run_id)
    assert view.experiment == "demo-sb3" and view.status == "completed"
    assert {"rollout/ep_rew_mean", "train/loss", "eval/mean_reward", "episode/return"} <= set(
        view.scalar_tags
    )
    assert {a.name for a in view.artifacts()} >= {"best_model.zip", "model_256_steps.zip"}
    assert not (workdir / "models").exists()  # nothing left outside the store
