"""TrainingCurveRecorder: histories, checkpoints, matplotlib figures, JSON, and the run."""

from __future__ import annotations

import json
import math
import time
from types import SimpleNamespace

import numpy as np
from PIL import Image

import labtrack
from labtrack.media import TrainingCurveRecorder, moving_average

KEYS = ["average_window", "episodes", "reward_history", "average_history", "epsilon_history",
        "option_history", "metric_histories", "best_reward", "final_reward", "final_average"]  # fmt: skip


def agent(epsilon, options, **metrics):
    """An agent as the document reads it: a policy with epsilon and options, components with
    training_metrics()."""
    value = SimpleNamespace(training_metrics=lambda: metrics)
    policy = SimpleNamespace(epsilon=epsilon, _options=dict.fromkeys(range(options)))
    return SimpleNamespace(reactive_policy=policy, value_function=value)


def reference_average(values, window):
    """The document's O(n·window) loop."""
    out = []
    for index in range(len(values)):
        chunk = [v for v in values[max(0, index - window + 1) : index + 1] if math.isfinite(v)]
        out.append(sum(chunk) / len(chunk) if chunk else float("nan"))
    return out


def test_moving_average_matches_the_documents_and_is_fast():
    rng = np.random.default_rng(0)
    values = list(rng.normal(size=2000))
    values[5:40] = [float("nan")] * 35
    for window in (1, 3, 100):
        np.testing.assert_allclose(
            moving_average(values, window), reference_average(values, window), equal_nan=True
        )
    started = time.perf_counter()
    moving_average(list(rng.normal(size=1_000_000)), 1000)
    assert time.perf_counter() - started < 2.0
    assert moving_average([], 5) == []


def test_histories_backfill_new_metrics_and_skip_missing_ones(tmp_path):
    curves = TrainingCurveRecorder(tmp_path, prefix="t", average_window=2)
    curves.log_episode(0, 10.0, 10.0, agent(0.9, 1))
    curves.log_episode(
        1, 20.0, 15.0, agent(0.5, 2, value_q_omega_loss=0.3, bad="n/a", inf=float("inf"))
    )
    curves.log_episode(2, 30.0, 20.0, SimpleNamespace())  # nothing to read: defaults
    assert curves.epsilon_history == [0.9, 0.5, 0.0]
    assert curves.option_history == [1.0, 2.0, 0.0]
    assert list(curves.metric_histories) == ["value_q_omega_loss"]
    np.testing.assert_equal(curves.metric_histories["value_q_omega_loss"], [np.nan, 0.3, np.nan])


def test_checkpoints_every_n_episodes(tmp_path):
    curves = TrainingCurveRecorder(tmp_path, prefix="t", checkpoint_every=3)
    for episode in range(2):
        curves.log_episode(episode, 1.0, 1.0, None)
    assert not list(tmp_path.iterdir())
    curves.log_episode(2, 5.0, 2.0, None)
    payload = json.loads((tmp_path / "t_reward_history_checkpoint.json").read_text())
    assert list(payload) == [*KEYS, "checkpoint"] and payload["checkpoint"] is True
    assert payload["episodes"] == 3 and payload["best_reward"] == 5.0


def test_save_writes_svg_and_png_figures_and_the_history(tmp_path):
    curves = TrainingCurveRecorder(tmp_path, prefix="cart", average_window=5)
    for episode in range(30):
        curves.log_episode(
            episode,
            float(episode),
            float(episode) / 2,
            agent(1 / (episode + 1), 3, policy_q_loss=1 / (episode + 1)),
        )
    curves.save()
    names = sorted(p.name for p in tmp_path.iterdir())
    stems = ("reward_curve", "training_state", "policy_q_loss")
    expected = [f"cart_{stem}.{ext}" for stem in stems for ext in ("svg", "png")]
    assert names == sorted([*expected, "cart_reward_history.json"])
    assert Image.open(tmp_path / "cart_reward_curve.png").size == (960, 540)
    svg = (tmp_path / "cart_reward_curve.svg").read_text()
    assert "cart reward over episodes" in svg and "avg5" in svg
    assert "policy q loss avg5" in (tmp_path / "cart_policy_q_loss.svg").read_text()
    payload = json.loads((tmp_path / "cart_reward_history.json").read_text())
    assert list(payload) == KEYS
    assert (payload["episodes"], payload["final_reward"], payload["final_average"]) == (
        30,
        29.0,
        14.5,
    )


def test_nothing_logged_writes_nothing(tmp_path):
    TrainingCurveRecorder(tmp_path / "c").save()
    assert not (tmp_path / "c").exists()


def test_with_a_run_each_episode_is_scalars_and_the_curve_a_figure(workdir):
    with labtrack.start_run("curves") as run:
        curves = TrainingCurveRecorder(workdir / "c", prefix="cart", run=run)
        for episode in range(4):
            curves.log_episode(
                episode, 10.0 * episode, 5.0 * episode, agent(0.1, 1, model_loss=0.5)
            )
        curves.save()
    view = labtrack.Store("out").runs()[0]
    assert list(view.scalars("episode/reward").values) == [0.0, 10.0, 20.0, 30.0]
    assert list(view.scalars("episode/avg_reward").steps) == [0, 1, 2, 3]
    assert list(view.scalars("episode/model_loss").values) == [0.5] * 4
    assert [e.step for e in view.figures("cart/reward_curve")] == [3]


def test_an_unwritable_directory_is_reported_once_and_the_histories_stay(tmp_path, caplog):
    import logging

    blocker = tmp_path / "file"
    blocker.write_text("x")
    curves = TrainingCurveRecorder(blocker / "curves", checkpoint_every=1)
    with caplog.at_level(logging.WARNING, logger="labtrack"):
        for episode in range(3):
            curves.log_episode(episode, 1.0, 1.0, None)
        curves.save()
    assert curves.reward_history == [1.0, 1.0, 1.0]
    assert curves.failures == 4  # three checkpoints and the save
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "cannot write" in warning and "training goes on" in warning


def test_recorders_without_a_run_pickle_for_workers(tmp_path):
    import pickle

    from labtrack.media import EpisodeAnimationRecorder, EpisodeCaptureSchedule

    curves = TrainingCurveRecorder(tmp_path, average_window=3)
    curves.log_episode(0, 2.0, 2.0, None)
    copy = pickle.loads(pickle.dumps(curves))
    assert copy.reward_history == [2.0] and copy.average_window == 3
    animations = EpisodeAnimationRecorder(tmp_path, EpisodeCaptureSchedule(every_n_episodes=5))
    assert pickle.loads(pickle.dumps(animations)).schedule == animations.schedule
