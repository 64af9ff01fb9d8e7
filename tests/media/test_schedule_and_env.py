"""EpisodeCaptureSchedule arithmetic and the recorders' environment-variable builders."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtrack.errors import ConfigError
from labtrack.media import (
    EpisodeCaptureSchedule,
    animation_recorder_from_env,
    curve_recorder_from_env,
)


def captured(schedule: EpisodeCaptureSchedule, total: int) -> list[int]:
    return [e for e in range(total) if schedule.should_capture(e, total)]


def test_listed_every_nth_and_last_n_episodes():
    assert captured(EpisodeCaptureSchedule(episode_indices=(3, 5)), 10) == [3, 5]
    assert captured(EpisodeCaptureSchedule(every_n_episodes=4), 10) == [0, 4, 8]
    assert captured(EpisodeCaptureSchedule(last_n_episodes=2), 10) == [8, 9]
    assert captured(EpisodeCaptureSchedule(last_n_episodes=20), 10) == list(range(10))
    both = EpisodeCaptureSchedule(episode_indices=(1,), every_n_episodes=5, last_n_episodes=1)
    assert captured(both, 12) == [0, 1, 5, 10, 11]
    assert captured(EpisodeCaptureSchedule(every_n_episodes=0), 5) == []  # 0 is off


def test_the_schedule_is_frozen_and_validated():
    schedule = EpisodeCaptureSchedule(episode_indices=[1, 2])  # type: ignore[arg-type]
    assert schedule.episode_indices == (1, 2)
    with pytest.raises(AttributeError):
        schedule.every_n_episodes = 3  # type: ignore[misc]
    with pytest.raises(ConfigError, match="every_n_episodes must be >= 0"):
        EpisodeCaptureSchedule(every_n_episodes=-1)
    with pytest.raises(ConfigError, match="last_n_episodes must be >= 0"):
        EpisodeCaptureSchedule(last_n_episodes=-2)


@pytest.fixture
def no_oak_vars(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("OAK_EXAMPLE_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_animation_builder_defaults_are_the_documents(no_oak_vars):
    recorder = animation_recorder_from_env("train")
    assert recorder is not None
    assert recorder.output_dir == Path("tests/results/animations/train")
    assert recorder.prefix == "train"
    assert (recorder.fps, recorder.max_frames) == (30, 400)
    assert recorder.schedule == EpisodeCaptureSchedule((), 100, 1)


def test_animation_builder_reads_every_variable(no_oak_vars, tmp_path):
    env = no_oak_vars
    env.setenv("OAK_EXAMPLE_ANIMATION_DIR", str(tmp_path))
    env.setenv("OAK_EXAMPLE_ANIMATION_EPISODES", " 2, 7 ,,")
    env.setenv("OAK_EXAMPLE_ANIMATION_EVERY", "0")
    env.setenv("OAK_EXAMPLE_ANIMATION_LAST", "3")
    env.setenv("OAK_EXAMPLE_ANIMATION_FPS", "12")
    env.setenv("OAK_EXAMPLE_ANIMATION_MAX_FRAMES", "0")
    recorder = animation_recorder_from_env("eval")
    assert recorder is not None
    assert recorder.output_dir == tmp_path / "eval"
    assert recorder.schedule == EpisodeCaptureSchedule((2, 7), None, 3)
    assert (recorder.fps, recorder.max_frames) == (12, None)
    env.setenv("OAK_EXAMPLE_DISABLE_ANIMATIONS", "yes")
    assert animation_recorder_from_env("eval") is None


def test_labtrack_variables_win_over_the_documents(no_oak_vars):
    env = no_oak_vars
    env.setenv("OAK_EXAMPLE_ANIMATION_FPS", "12")
    env.setenv("LABTRACK_ANIMATION_FPS", "24")
    env.setenv("OAK_EXAMPLE_CURVE_CHECKPOINT_EVERY", "5")
    env.setenv("LABTRACK_CURVE_CHECKPOINT_EVERY", "50")
    assert animation_recorder_from_env("m").fps == 24  # type: ignore[union-attr]
    assert curve_recorder_from_env("m", average_window=7).checkpoint_every == 50  # type: ignore[union-attr]
    env.setenv("LABTRACK_DISABLE_CURVES", "1")
    assert curve_recorder_from_env("m", average_window=7) is None


def test_curve_builder_dirs_and_defaults(no_oak_vars, tmp_path):
    env = no_oak_vars
    recorder = curve_recorder_from_env("train", average_window=25)
    assert recorder is not None
    assert recorder.output_dir == Path("tests/results/training_curves/train")
    assert (recorder.prefix, recorder.average_window, recorder.checkpoint_every) == (
        "train",
        25,
        10,
    )
    env.setenv("OAK_EXAMPLE_PLOT_DIR", str(tmp_path / "plots"))
    assert curve_recorder_from_env("t", average_window=1).output_dir == tmp_path / "plots" / "t"  # type: ignore[union-attr]
    env.setenv("OAK_EXAMPLE_CURVE_DIR", str(tmp_path / "curves"))
    assert curve_recorder_from_env("t", average_window=1).output_dir == tmp_path / "curves" / "t"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        (
            "OAK_EXAMPLE_ANIMATION_EVERY",
            "ten",
            "OAK_EXAMPLE_ANIMATION_EVERY='ten' is not a whole number",
        ),
        ("LABTRACK_ANIMATION_LAST", "-1", "LABTRACK_ANIMATION_LAST='-1' must be >= 0"),
        ("OAK_EXAMPLE_ANIMATION_FPS", "0", "OAK_EXAMPLE_ANIMATION_FPS='0' must be > 0"),
        ("OAK_EXAMPLE_ANIMATION_EPISODES", "1,two", "OAK_EXAMPLE_ANIMATION_EPISODES='1,two'"),
    ],
)
def test_a_malformed_variable_is_an_error_naming_it(no_oak_vars, name, value, words):
    no_oak_vars.setenv(name, value)
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        animation_recorder_from_env("m")


def test_a_malformed_curve_variable_is_an_error_naming_it(no_oak_vars):
    no_oak_vars.setenv("OAK_EXAMPLE_CURVE_CHECKPOINT_EVERY", "often")
    with pytest.raises(ConfigError, match="OAK_EXAMPLE_CURVE_CHECKPOINT_EVERY"):
        curve_recorder_from_env("m", average_window=3)
