"""EpisodeAnimationRecorder: the document's GIF and JSON files, and the run's videos."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

import labtrack
from labtrack.media import (
    EpisodeAnimationRecorder,
    EpisodeCaptureSchedule,
    EpisodeStep,
    EpisodeTrace,
)

KEYS = ["episode", "episode_reward", "avg_reward", "step_count", "solved", "frame_count",
        "actions", "active_option_ids", "metadata"]  # fmt: skip


def trace(episode=12, frames=None, **kw):
    frames = (
        [np.full((20, 30, 3), 40 * i, np.uint8) for i in range(5)] if frames is None else frames
    )
    steps = [
        EpisodeStep(action=np.int64(i % 2), active_option_id=i // 3) for i in range(len(frames))
    ]
    return EpisodeTrace(episode=episode, episode_reward=21.6, avg_reward=17.4, step_count=len(frames),
                        solved=False, frames=frames, steps=steps, metadata={"seed": 3}, **kw)  # fmt: skip


def test_writes_the_documents_gif_and_json(tmp_path):
    recorder = EpisodeAnimationRecorder(tmp_path / "anim", prefix="train", fps=20, max_frames=3)
    recorder(trace())
    gif = tmp_path / "anim" / "train_episode_0012_reward_22_avg_17.gif"
    image = Image.open(gif)
    assert (image.n_frames, image.size, image.info["duration"]) == (3, (30, 20), 50)
    meta = json.loads(gif.with_suffix(".json").read_text())
    assert list(meta) == KEYS
    assert meta["frame_count"] == 5 and meta["actions"] == [0, 1, 0, 1, 0]
    assert meta["active_option_ids"] == [0, 0, 0, 1, 1] and meta["metadata"] == {"seed": 3}


def test_grey_float_and_pil_frames_are_converted_as_the_document_does(tmp_path):
    frames = [np.full((8, 8), 300.0), Image.new("L", (8, 8), 7), np.full((8, 8, 3), -5)]
    EpisodeAnimationRecorder(tmp_path, prefix="p")(trace(frames=frames))
    gif = Image.open(next(tmp_path.glob("*.gif")))
    colours = []
    for i in range(gif.n_frames):
        gif.seek(i)
        colours.append(gif.convert("RGB").getpixel((0, 0)))
    assert colours == [(255, 255, 255), (7, 7, 7), (0, 0, 0)]  # clipped, not scaled


def test_no_frames_writes_only_the_json_with_the_warning(tmp_path):
    EpisodeAnimationRecorder(tmp_path)(trace(frames=[]))
    (meta_file,) = tmp_path.iterdir()
    assert meta_file.name == "training_episode_0012_reward_22_avg_17.json"
    assert "render_mode='rgb_array'" in json.loads(meta_file.read_text())["warning"]


def test_a_users_own_trace_type_works(tmp_path):
    @dataclass
    class MyStep:
        action: int
        active_option_id: str

    @dataclass
    class MyTrace:
        episode: int
        episode_reward: float
        avg_reward: float
        step_count: int
        solved: bool
        frames: list = field(default_factory=list)
        steps: list = field(default_factory=list)
        metadata: dict = field(default_factory=dict)

    EpisodeAnimationRecorder(tmp_path)(
        MyTrace(1, 500.0, 480.2, 1, True, [np.zeros((4, 4, 3))], [MyStep(1, "o")])
    )
    assert json.loads((tmp_path / "training_episode_0001_reward_500_avg_480.json").read_text())[
        "solved"
    ]


def test_bad_frames_are_reported_once_naming_the_episode_and_training_goes_on(tmp_path, caplog):
    recorder = EpisodeAnimationRecorder(tmp_path)
    mixed = [np.zeros((8, 8, 3)), np.zeros((9, 8, 3))]
    with caplog.at_level(logging.WARNING, logger="labtrack"):
        recorder(trace(episode=3, frames=mixed))
        recorder(trace(episode=4, frames=mixed))
        recorder(trace(episode=5, frames=[np.zeros((8, 8, 3)), object()]))
    warnings = [r.getMessage() for r in caplog.records]
    assert (
        len(warnings) == 1
        and "episode 3" in warnings[0]
        and "frame 1 has shape (9, 8, 3)" in warnings[0]
    )
    assert recorder.failures == 3
    error = json.loads((tmp_path / "training_episode_0005_reward_22_avg_17.json").read_text())[
        "error"
    ]
    assert "frame 1 is a object, not an image array" in error
    assert not list(tmp_path.glob("*.gif"))
    recorder(trace(episode=6))  # a good episode after bad ones is written
    assert len(list(tmp_path.glob("*.gif"))) == 1


def test_zero_fps_and_an_unwritable_directory_are_reported_not_raised(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING, logger="labtrack"):
        EpisodeAnimationRecorder(tmp_path / "a", fps=0)(trace(episode=8))
        EpisodeAnimationRecorder(blocker / "sub")(trace(episode=9))
    text = caplog.text
    assert "episode 8" in text and "fps must be > 0, got 0" in text
    assert "episode 9: cannot write" in text


def test_with_a_run_each_animation_is_a_video_at_the_episodes_step(workdir):
    schedule = EpisodeCaptureSchedule(every_n_episodes=2)
    with labtrack.start_run("anim") as run:
        recorder = EpisodeAnimationRecorder(
            workdir / "anim", schedule, prefix="cart", fps=10, run=run
        )
        for episode in range(5):
            if recorder.should_capture(episode, 5):
                recorder(trace(episode=episode))
    view = labtrack.Store("out").runs()[0]
    entries = view.videos("cart/episode")
    assert [e.step for e in entries] == [0, 2, 4]
    assert Image.open(entries[0].path).n_frames == 5


def test_the_current_run_is_used_when_none_is_given(workdir):
    recorder = EpisodeAnimationRecorder(workdir / "anim", video_format="mp4")
    recorder(trace(episode=1))  # no run: files only
    with labtrack.start_run("anim"):
        recorder(trace(episode=2))
    (entry,) = labtrack.Store("out").runs()[0].videos("training/episode")
    assert (entry.step, entry.path.suffix) == (2, ".mp4")
