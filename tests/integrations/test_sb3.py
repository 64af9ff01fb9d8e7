"""TrackingCallback on real Stable-Baselines3 training (CartPole-v1, a few thousand steps)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("stable_baselines3")
gym = pytest.importorskip("gymnasium")

import torch  # noqa: E402
from stable_baselines3 import DQN, PPO  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback, CallbackList  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import VecNormalize  # noqa: E402

import labtrack  # noqa: E402
from labtrack.integrations.sb3 import TrackingCallback  # noqa: E402
from labtrack.tracking import ArtifactType, ExperimentStatus, configure_labtrack_backend  # noqa: E402
from labtrack.tracking.sync import get_experiment_repository, get_ml_tracker  # noqa: E402

torch.set_num_threads(1)


class _RecordsOddKeys(BaseCallback):
    """A user's own callback logging keys with no and with several '/'."""

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.logger.record("plain", 3.0)
        self.logger.record("a/b/c", 4.0)


def _series(points, name):
    return [(p.step, p.value) for p in points if p.name == name]


def test_ppo_run_holds_everything_sb3_logs(workdir: Path, capsys) -> None:
    configure_labtrack_backend("store")
    env = Monitor(gym.make("CartPole-v1"))
    callback = TrackingCallback(
        experiment_name="ppo-cartpole",
        config={"env": "CartPole-v1"},
        eval_freq=512,
        save_freq=1024,
        n_eval_episodes=2,
        keep_checkpoints=1,
    )
    model = PPO(
        "MlpPolicy", env, n_steps=256, batch_size=64, n_epochs=2, verbose=1, seed=0, device="cpu"
    )
    model.learn(2048, callback=CallbackList([callback, _RecordsOddKeys()]))

    assert "ep_rew_mean" in capsys.readouterr().out  # SB3's own stdout output stayed
    repo = get_experiment_repository()
    run = repo.get_experiment(callback.run.run_id)
    points = repo.get_experiment_metrics(run.experiment_id)
    names = {p.name for p in points}
    assert run.status == ExperimentStatus.COMPLETED and run.name == "ppo-cartpole"
    assert run.config == {"env": "CartPole-v1"}
    assert {
        "rollout/ep_rew_mean",
        "rollout/ep_len_mean",
        "time/fps",
        "time/total_timesteps",
    } <= names
    ppo_train_keys = {
        "train/approx_kl",
        "train/clip_fraction",
        "train/clip_range",
        "train/entropy_loss",
        "train/explained_variance",
        "train/learning_rate",
        "train/loss",
        "train/n_updates",
        "train/policy_gradient_loss",
        "train/value_loss",
    }
    assert ppo_train_keys <= names
    assert {"plain", "a/b/c"} <= names
    # the last train() is recorded, though SB3 never dumps it: 8 iterations x 2 epochs
    assert _series(points, "train/n_updates")[-1] == (2048, 16.0)
    assert run.final_metrics["train/n_updates"] == 16.0
    # every episode the Monitor saw, one point each
    assert [v for _, v in _series(points, "episode/return")] == env.get_episode_rewards()
    assert [v for _, v in _series(points, "episode/length")] == [
        float(n) for n in env.get_episode_lengths()
    ]
    # evaluation every 512 steps and at the end
    assert [s for s, _ in _series(points, "eval/mean_reward")] == [512, 1024, 1536, 2048]
    assert {"eval/std_reward", "eval/mean_ep_length"} <= names
    assert run.params["algorithm"] == "PPO" and run.params["n_steps"] == 256
    assert run.params["learning_rate"] == 0.0003
    # checkpoints every 1024 steps, the newest kept on disk; all recorded in the run
    kinds = [(a.name, a.artifact_type) for a in run.artifacts]
    assert ("model_1024_steps.zip", ArtifactType.CHECKPOINT) in kinds
    assert ("best_model.zip", ArtifactType.MODEL) in kinds
    on_disk = sorted(
        p.name for p in (Path(callback.best_model_save_path) / "checkpoints").iterdir()
    )
    assert on_disk == ["model_2048_steps.zip"]
    # the best model loads, from where it was saved and from the run's copy
    assert Path(callback.best_model_path) == Path("models") / run.experiment_id / "best_model.zip"
    assert PPO.load(callback.best_model_path).n_steps == 256
    best = next(a for a in run.artifacts if a.name == "best_model.zip")
    assert best.metadata["eval/mean_reward"] == run.final_metrics["best_mean_reward"]
    PPO.load(best.file_path)
    # it is an ordinary labtrack run
    (view,) = labtrack.Store("store").runs(experiment="ppo-cartpole")
    assert view.status == "completed"


def test_vectorized_envs_and_vecnormalize(workdir: Path) -> None:
    configure_labtrack_backend("store")
    env = VecNormalize(make_vec_env("CartPole-v1", n_envs=2, seed=0))
    callback = TrackingCallback(experiment_name="vec", eval_freq=1024, n_eval_episodes=2)
    model = PPO("MlpPolicy", env, n_steps=256, batch_size=128, n_epochs=1, seed=0, device="cpu")
    model.learn(2048, callback=callback)

    repo = get_experiment_repository()
    points = repo.get_experiment_metrics(callback.run.run_id)
    # SB3 calls the callback once per 2 environment steps: evaluation stays every 1024 steps
    assert [s for s, _ in _series(points, "eval/mean_reward")] == [1024, 2048]
    run = repo.get_experiment(callback.run.run_id)
    assert run.params["n_envs"] == 2
    stats = next(a for a in run.artifacts if a.name == "vecnormalize.pkl")
    assert (
        VecNormalize.load(stats.file_path, make_vec_env("CartPole-v1", n_envs=1)).obs_rms.count > 0
    )


def test_dqn_into_an_existing_run(workdir: Path) -> None:
    configure_labtrack_backend("store")
    tracker = get_ml_tracker()
    run = tracker.create_run("dqn-cartpole", {"algo": "dqn"})
    callback = TrackingCallback(run=run, tracker=tracker, eval_freq=-1, log_interval=2)
    model = DQN("MlpPolicy", "CartPole-v1", learning_starts=200, train_freq=4, seed=0, device="cpu")
    model.learn(1500, callback=callback)

    repo = get_experiment_repository()
    running = repo.get_experiment(run.run_id)
    assert running.status == ExperimentStatus.RUNNING  # the caller's run: the caller finishes it
    tracker.finish_run(run)
    points = repo.get_experiment_metrics(run.run_id)
    names = {p.name for p in points}
    # off-policy keys
    assert {"rollout/exploration_rate", "time/episodes", "train/loss", "train/n_updates"} <= names
    assert _series(points, "train/n_updates")[-1] == (1500, float(model._n_updates))
    assert callback.best_model_path is None  # evaluation was off
    episodes = [s for s, _ in _series(points, "episode/return")]
    assert episodes and episodes == list(range(0, 2 * len(episodes), 2))  # every 2nd episode
    assert repo.get_experiment(run.run_id).params["target_update_interval"] == 10000


def test_a_run_per_learn_call_in_the_aim_backend(workdir: Path) -> None:
    pytest.importorskip("aim")
    from labtrack.tracking import configure_aim_backend

    configure_aim_backend("aim")
    callback = TrackingCallback(experiment_name="ppo-aim", eval_freq=0, n_eval_episodes=1)
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=128, batch_size=64, n_epochs=1, device="cpu")
    model.learn(256, callback=callback)
    first = callback.run.run_id
    model.learn(128, callback=callback)  # the same callback again: a second run
    assert callback.run.run_id != first

    import aim

    from labtrack.sinks._aim import index_repo

    index_repo(workdir / "aim")
    runs = {r.hash: r for r in aim.Repo(str(workdir / "aim")).iter_runs()}
    assert set(runs) == {first, callback.run.run_id}
    aim_run = runs[first]
    assert aim_run.experiment == "ppo-aim"
    assert aim_run["params"]["n_steps"] == 128
    names = {m.name for m in aim_run.metrics()}
    assert {"rollout/ep_rew_mean", "train/loss", "eval/mean_reward"} <= names
