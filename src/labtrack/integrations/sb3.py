"""Stable-Baselines3: ``TrackingCallback`` records a training run through the tracking API.

::

    from labtrack.integrations.sb3 import TrackingCallback

    callback = TrackingCallback(experiment_name="ppo-cartpole", config={"lr": 3e-4},
                                eval_freq=1000, save_freq=5000)
    PPO("MlpPolicy", "CartPole-v1").learn(20_000, callback=callback)
    callback.best_model_path   # models/<run id>/best_model.zip, also an artifact of the run

What it records, and why this way:

* **Everything SB3 logs**, by adding an output format (a ``KVWriter``) to the model's own
  logger: stdout, CSV and TensorBoard outputs stay, and keys SB3 excludes from some formats
  (``time/*``) are recorded too. SB3 records the last ``train()``'s values but never dumps
  them (training ends first): they are taken from the logger at training end.
* **Per-episode** return and length from the ``Monitor`` info (``episode/return``,
  ``episode/length``, step = episode number), every ``log_interval``-th episode.
* **Evaluation** every ``eval_freq`` environment steps (SB3 calls a callback once per
  ``n_envs`` steps, so the period is ``eval_freq // n_envs`` calls, as in SB3's
  ``EvalCallback``), and once more at training end: ``eval/mean_reward``,
  ``eval/std_reward``, ``eval/mean_ep_length``. The best model by mean reward is saved (with
  its ``VecNormalize`` statistics when the model has them) and recorded as an artifact.
* **Checkpoints** every ``save_freq`` steps, the last ``keep_checkpoints`` kept on disk.
* The config as the run's config, and SB3's hyperparameters (a fixed list of names read from
  the model) as params.

Without ``eval_env`` the callback evaluates on a new copy of the training environment, made
from its gymnasium spec (``gym.make(spec.id, **spec.kwargs)`` in a ``Monitor``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter

from ..tracking import ArtifactType, ExperimentRun, SyncMLTracker, get_ml_tracker_sync

log = logging.getLogger(__name__)

#: Hyperparameters read from the model when it has them (never its whole ``__dict__``).
HYPERPARAMETERS = (
    "learning_rate",
    "n_steps",
    "batch_size",
    "n_epochs",
    "gamma",
    "gae_lambda",
    "clip_range",
    "clip_range_vf",
    "normalize_advantage",
    "ent_coef",
    "vf_coef",
    "max_grad_norm",
    "use_sde",
    "sde_sample_freq",
    "target_kl",
    "buffer_size",
    "learning_starts",
    "tau",
    "train_freq",
    "gradient_steps",
    "target_update_interval",
    "exploration_initial_eps",
    "exploration_final_eps",
    "exploration_fraction",
    "seed",
    "n_envs",
    "device",
    "policy_kwargs",
)


def _number(value: Any) -> float | None:
    """``value`` as a float if it is a real number (numpy scalars included), else None."""
    if isinstance(value, bool):
        return float(value)
    try:
        import numpy as np

        if isinstance(value, (int, float, np.integer, np.floating)):
            return float(value)
        if isinstance(value, np.ndarray) and value.size == 1:
            return float(value.item())
    except (TypeError, ValueError):
        return None
    return None


def _param(value: Any) -> Any:
    if callable(value):  # an SB3 schedule: its value at the start of training
        try:
            value = value(1.0)
        except Exception:  # not a schedule after all: record what it is
            return repr(value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    number = _number(value)
    return number if number is not None else str(value)


class _Writer(KVWriter):
    """The output format added to the model's logger: every numeric value of every dump."""

    def __init__(self, callback: TrackingCallback) -> None:
        self.callback = callback

    def write(
        self,
        key_values: dict[str, Any],
        key_excluded: dict[str, tuple[str, ...]],
        step: int = 0,
    ) -> None:
        self.callback._record(key_values, step)

    def close(self) -> None:
        pass


class TrackingCallback(BaseCallback):  # type: ignore[misc]
    """Record an SB3 training run (see the module docstring for what is recorded).

    Args:
        experiment_name: the run's experiment (default ``$ML_EXPERIMENT_NAME``).
        config: the run's config.
        eval_freq: evaluate every this many environment steps (0: only at training end; a
            negative value: never).
        save_freq: save a checkpoint every this many environment steps (0: never).
        log_interval: record every this many-th episode's return and length.
        eval_env: the evaluation environment (default: a copy of the training one).
        n_eval_episodes: episodes per evaluation.
        best_model_save_path: folder of ``best_model.zip`` and the checkpoints (default
            ``models/<run id>``).
        run: record into this run (made with ``tracker``) instead of creating one; it is then
            not finished at training end.
        tracker: the tracker to use (default: the configured one, ``get_ml_tracker_sync()``).
        keep_checkpoints: how many of the newest checkpoints stay on disk.
        deterministic: evaluate with deterministic actions.
    """

    def __init__(
        self,
        experiment_name: str | None = None,
        config: Mapping[str, Any] | None = None,
        eval_freq: int = 10_000,
        save_freq: int = 0,
        log_interval: int = 1,
        eval_env: Any = None,
        n_eval_episodes: int = 5,
        best_model_save_path: str | Path | None = None,
        run: ExperimentRun | None = None,
        *,
        tracker: SyncMLTracker | None = None,
        keep_checkpoints: int = 2,
        deterministic: bool = True,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if log_interval < 1:
            raise ValueError(f"log_interval must be >= 1, got {log_interval!r}")
        if keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1, got {keep_checkpoints!r}")
        self.experiment_name = experiment_name
        self.config = dict(config or {})
        self.eval_freq = int(eval_freq)
        self.save_freq = int(save_freq)
        self.log_interval = int(log_interval)
        self.eval_env = eval_env
        self.n_eval_episodes = int(n_eval_episodes)
        self.best_model_save_path = (
            Path(best_model_save_path) if best_model_save_path is not None else None
        )
        self.run = run
        self.tracker = tracker
        self.keep_checkpoints = int(keep_checkpoints)
        self.deterministic = deterministic
        #: ``best_model.zip`` once an evaluation has saved one, else None.
        self.best_model_path: str | None = None
        self.best_mean_reward = -math.inf
        self.checkpoints: list[Path] = []
        self.episodes = 0
        self._owns_run = run is None
        self._finished = False  # the run this callback made is finished (learn() returned)
        self._writer: _Writer | None = None
        self._last_eval_step = -1
        self._best_step: int | None = None

    # ------------------------------------------------------------------ SB3 hooks

    def _on_training_start(self) -> None:
        if self.tracker is None:
            self.tracker = get_ml_tracker_sync()
        if self.run is None or (self._owns_run and self._finished):
            # a new run per learn() call when the callback makes its own runs
            self.run = self.tracker.create_run(self.experiment_name, self.config)
            self._owns_run, self._finished = True, False
            self.best_model_path, self.best_mean_reward, self.episodes = None, -math.inf, 0
            self.checkpoints, self._last_eval_step, self._best_step = [], -1, None
        if self.best_model_save_path is None:
            self.best_model_save_path = Path("models") / self.run.run_id
        self.tracker.log_params(self.run, self._hyperparameters())
        self._writer = _Writer(self)
        self.model.logger.output_formats.append(self._writer)
        if self.eval_freq >= 0 and self.eval_env is None:
            self.eval_env = self._copy_training_env()

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            episode = info.get("episode") if isinstance(info, Mapping) else None
            if episode is not None:
                if self.episodes % self.log_interval == 0:
                    self._log(
                        {
                            "episode/return": float(episode["r"]),
                            "episode/length": float(episode["l"]),
                        },
                        self.episodes,
                    )
                self.episodes += 1
        n_envs = self.training_env.num_envs if self.training_env is not None else 1
        if self.eval_freq > 0 and self.n_calls % max(self.eval_freq // n_envs, 1) == 0:
            self._evaluate()
        if self.save_freq > 0 and self.n_calls % max(self.save_freq // n_envs, 1) == 0:
            self._checkpoint()
        return True

    def _on_training_end(self) -> None:
        # The last train() recorded values that SB3 never dumps: take them now.
        pending = dict(self.model.logger.name_to_value)
        if pending:
            self._record(pending, self.num_timesteps)
        if self.eval_freq >= 0 and self._last_eval_step != self.num_timesteps:
            self._evaluate()
        assert self.tracker is not None
        assert self.run is not None
        if self.best_model_path is not None:
            self.tracker.log_artifact(
                self.run,
                self.best_model_path,
                ArtifactType.MODEL,
                metadata={"eval/mean_reward": self.best_mean_reward, "step": self._best_step},
            )
            stats = Path(self.best_model_path).with_name("vecnormalize.pkl")
            if stats.exists():
                self.tracker.log_artifact(
                    self.run, stats, ArtifactType.DATA, metadata={"for": "best_model.zip"}
                )
        if self._writer in self.model.logger.output_formats:
            self.model.logger.output_formats.remove(self._writer)
        if self._owns_run:
            self._finished = True
            finals = {}
            if self.best_model_path is not None:
                finals["best_mean_reward"] = self.best_mean_reward
            self.tracker.finish_run(self.run, final_metrics=finals)

    # ------------------------------------------------------------------ recording

    def _log(self, values: Mapping[str, float], step: int) -> None:
        assert self.tracker is not None
        assert self.run is not None
        self.tracker.log_metrics(self.run, dict(values), step=int(step))

    def _record(self, key_values: Mapping[str, Any], step: int) -> None:
        values = {}
        for key, value in key_values.items():
            number = _number(value)
            if number is not None:
                values[key] = number
        if values:
            self._log(values, step)

    def _hyperparameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "algorithm": type(self.model).__name__,
            "policy": type(self.model.policy).__name__,
        }
        for name in HYPERPARAMETERS:
            if hasattr(self.model, name):
                params[name] = _param(getattr(self.model, name))
        return params

    # ------------------------------------------------------------------ evaluation

    def _copy_training_env(self) -> Any:
        import gymnasium as gym
        from stable_baselines3.common.monitor import Monitor
        from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

        try:
            spec = self.training_env.get_attr("spec", [0])[0]
        except (AttributeError, IndexError):
            spec = None
        if spec is None:
            log.warning("no eval_env and the training env has no gymnasium spec: no evaluation")
            self.eval_freq = -1
            return None
        env: Any = DummyVecEnv([lambda: Monitor(gym.make(spec.id, **(spec.kwargs or {})))])
        if self.model.get_vec_normalize_env() is not None:
            env = VecNormalize(env, training=False, norm_reward=False)
        return env

    def _evaluate(self) -> None:
        from stable_baselines3.common.evaluation import evaluate_policy
        from stable_baselines3.common.vec_env import VecEnv, sync_envs_normalization

        if self.eval_env is None:
            return
        if isinstance(self.eval_env, VecEnv) and self.model.get_vec_normalize_env() is not None:
            sync_envs_normalization(self.training_env, self.eval_env)
        rewards, lengths = evaluate_policy(
            self.model,
            self.eval_env,
            n_eval_episodes=self.n_eval_episodes,
            deterministic=self.deterministic,
            return_episode_rewards=True,
        )
        import numpy as np

        mean = float(np.mean(rewards))
        self._last_eval_step = self.num_timesteps
        self._log(
            {
                "eval/mean_reward": mean,
                "eval/std_reward": float(np.std(rewards)),
                "eval/mean_ep_length": float(np.mean(lengths)),
            },
            self.num_timesteps,
        )
        if mean > self.best_mean_reward:
            self.best_mean_reward = mean
            self._best_step = self.num_timesteps
            assert self.best_model_save_path is not None
            self.best_model_save_path.mkdir(parents=True, exist_ok=True)
            path = self.best_model_save_path / "best_model.zip"
            self.model.save(path)
            normalize = self.model.get_vec_normalize_env()
            if normalize is not None:
                normalize.save(str(self.best_model_save_path / "vecnormalize.pkl"))
            self.best_model_path = str(path)

    def _checkpoint(self) -> None:
        assert self.best_model_save_path is not None
        assert self.tracker is not None
        assert self.run is not None
        folder = self.best_model_save_path / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"model_{self.num_timesteps}_steps.zip"
        self.model.save(path)
        self.tracker.log_artifact(
            self.run, path, ArtifactType.CHECKPOINT, metadata={"step": self.num_timesteps}
        )
        self.checkpoints.append(path)
        while len(self.checkpoints) > self.keep_checkpoints:
            old = self.checkpoints.pop(0)
            old.unlink(missing_ok=True)


__all__ = ["HYPERPARAMETERS", "TrackingCallback"]
