"""Run.log_video: MP4 (H.264) or GIF, downscaled and capped, read back with RunView.videos."""

from __future__ import annotations

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

import labtrack


def cartpole_like(frames: int = 500, height: int = 400, width: int = 600) -> np.ndarray:
    """A moving cart on white: what a CartPole episode's raw frames look like."""
    out = np.full((frames, height, width, 3), 255, np.uint8)
    for i in range(frames):
        x = 100 + (i * 3) % 400
        out[i, 250:280, x : x + 50] = (30, 30, 30)
        out[i, 150:250, x + 22 : x + 28] = (200, 140, 90)
    return out


def decoded(path) -> tuple[tuple[int, int], float, int]:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    return tuple(meta["size"]), float(meta["fps"]), sum(1 for _ in reader)


def test_a_500_step_episode_is_a_small_mp4_that_plays_back(workdir):
    frames = cartpole_like()
    with labtrack.start_run("cartpole") as run:
        run.log_video("episode", frames, fps=50, step=7)
    view = labtrack.Store("out").runs()[0]
    assert view.video_tags == ["episode"]
    (entry,) = view.videos("episode")
    assert (entry.kind, entry.step, entry.path.suffix) == ("video", 7, ".mp4")
    assert entry.path.stat().st_size < 200_000  # raw frames: 360 MB
    assert decoded(entry.path) == ((320, 212), 50.0, 500)  # downscaled to 320 px, even sides
    assert Image.open(entry.png).size == (320, 212)  # the poster is the first frame


def test_gif_on_request_with_a_frame_cap_and_no_downscaling(workdir):
    frames = [np.full((64, 48, 3), i * 20, np.uint8) for i in range(12)]
    with labtrack.start_run("gifs") as run:
        run.log_video("clip", frames, fps=10, format="gif", max_frames=5, max_size=None)
        run.log_video("clip", frames, fps=10, format="gif")
    entries = labtrack.Store("out").runs()[0].videos("clip")
    assert [e.step for e in entries] == [0, 1]  # steps count up per tag
    first = Image.open(entries[0].path)
    assert (first.format, first.size, first.n_frames) == ("GIF", (48, 64), 5)
    assert Image.open(entries[1].path).n_frames == 12


def test_frames_may_be_grey_float_pil_or_a_generator(workdir):
    def gen():
        for i in range(10_000):  # never consumed past the cap
            yield np.full((30, 40), i / 10.0)

    with labtrack.start_run("kinds") as run:
        run.log_video("grey", gen(), fps=5, max_frames=4)
        run.log_video("pil", [Image.new("RGB", (40, 30), c) for c in ("red", "blue")], fps=5)
    view = labtrack.Store("out").runs()[0]
    assert decoded(view.videos("grey")[0].path) == ((40, 30), 5.0, 4)
    assert decoded(view.videos("pil")[0].path)[2] == 2


@pytest.mark.parametrize(
    ("frames", "kwargs", "error", "words"),
    [
        (
            [np.zeros((8, 8, 3)), np.zeros((6, 8, 3))],
            {},
            ValueError,
            "frame 1 of video 'v' has shape",
        ),
        ([np.zeros((8, 8, 3)), "not a frame"], {}, TypeError, "frame 1 of video 'v' is a str"),
        ([], {}, ValueError, "has no frames"),
        (np.zeros((4, 8, 8, 3)), {"fps": 0}, ValueError, "fps for video 'v' must be a number > 0"),
        (np.zeros((4, 8, 8, 3)), {"format": "avi"}, ValueError, "'mp4' or 'gif'"),
        (np.zeros((4, 8, 8, 3)), {"max_frames": 0}, ValueError, "max_frames"),
    ],
)
def test_bad_input_raises_at_the_call_naming_tag_and_frame(workdir, frames, kwargs, error, words):
    with labtrack.start_run("bad") as run:
        with pytest.raises(error, match=words):
            run.log_video("v", frames, **kwargs)
        run.log_video("v", np.zeros((2, 8, 8, 3), np.uint8), fps=5)  # the run goes on
    assert [e.step for e in labtrack.Store("out").runs()[0].videos("v")] == [0]


def test_a_video_survives_reopening_the_run_and_steps_continue(workdir):
    with labtrack.start_run("again", name="r") as run:
        run.log_video("v", np.zeros((2, 8, 8, 3), np.uint8), fps=5)
        run_dir = run.dir
    with labtrack.start_run("again", run_dir=run_dir) as run:
        run.log_video("v", np.zeros((2, 8, 8, 3), np.uint8), fps=5)
    assert [e.step for e in labtrack.Store("out").runs()[0].videos("v")] == [0, 1]
