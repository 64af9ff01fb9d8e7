"""record_episodes on real CartPole-v1: scheduled episodes become videos with return and length."""

from __future__ import annotations

import gymnasium as gym
import imageio_ffmpeg
import pytest

import labtrack
from labtrack.errors import ConfigError
from labtrack.media import EpisodeCaptureSchedule, record_episodes


def play(env, episodes, seed=0, watch=None):
    lengths = []
    env.action_space.seed(seed)
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        done, length = False, 0
        while not done:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            done, length = terminated or truncated, length + 1
            if watch:
                watch(env)
        lengths.append(length)
    env.close()
    return lengths


def test_scheduled_cartpole_episodes_are_logged_as_videos(workdir):
    schedule = EpisodeCaptureSchedule(every_n_episodes=2, last_n_episodes=1)
    with labtrack.start_run("cartpole") as run:
        env = record_episodes(
            gym.make("CartPole-v1", render_mode="rgb_array"), schedule, run=run, total_episodes=4
        )
        lengths = play(env, 4)
    view = labtrack.Store("out").runs()[0]
    videos = view.videos("episode")
    assert [v.step for v in videos] == [0, 2, 3]
    assert list(view.scalars("episode/length").values) == lengths
    assert list(view.scalars("episode/return").values) == lengths  # CartPole pays 1 per step
    meta_reader = imageio_ffmpeg.read_frames(str(videos[0].path))
    meta = next(meta_reader)
    assert tuple(meta["size"]) == (320, 212) and meta["fps"] == 50.0  # env's render_fps
    assert sum(1 for _ in meta_reader) == lengths[0] + 1  # the reset frame and one per step
    assert all(v.path.stat().st_size < 100_000 for v in videos)


def test_never_holds_more_than_the_frame_cap(workdir):
    held = []
    with labtrack.start_run("cap") as run:
        env = record_episodes(gym.make("CartPole-v1", render_mode="rgb_array"), EpisodeCaptureSchedule(episode_indices=(0,)),
                              run=run, max_frames=8)  # fmt: skip
        (length,) = play(env, 1, seed=3, watch=lambda e: held.append(e.buffered_frames))
    assert length > 8 and max(held) == 8
    (video,) = labtrack.Store("out").runs()[0].videos("episode")
    reader = imageio_ffmpeg.read_frames(str(video.path))
    next(reader)
    assert sum(1 for _ in reader) == 8


def test_needs_rgb_array_rendering_and_a_total_for_last_n():
    with pytest.raises(ConfigError, match="render_mode='rgb_array'"):
        record_episodes(gym.make("CartPole-v1"), EpisodeCaptureSchedule(every_n_episodes=1))
    with pytest.raises(ConfigError, match="total_episodes"):
        record_episodes(
            gym.make("CartPole-v1", render_mode="rgb_array"),
            EpisodeCaptureSchedule(last_n_episodes=1),
        )


def test_a_run_that_refuses_is_reported_once_and_training_goes_on(workdir, caplog):
    import logging

    with labtrack.start_run("closed") as run:
        pass  # finished: it refuses every record
    env = record_episodes(
        gym.make("CartPole-v1", render_mode="rgb_array"),
        EpisodeCaptureSchedule(every_n_episodes=1),
        run=run,
    )
    with caplog.at_level(logging.WARNING, logger="labtrack"):
        lengths = play(env, 3)
    assert len(lengths) == 3 and env.failures == 3
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "episode 0: not logged to run" in warning
