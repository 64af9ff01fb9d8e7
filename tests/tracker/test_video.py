"""Videos through the tracker: ``Tracker.log_video`` in process, and from a Ray worker through
``TrackerClient.log_video`` and a real ``TrackerActor``, read back with ``open_run().videos``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from labtrack import PersistenceConfig, StatsConfig, Tracker, TrackerConfig
from labtrack.store import open_run


def make_config(root: Path, run: str = "run1") -> TrackerConfig:
    return TrackerConfig(
        app_name="app",
        run_name=run,
        persistence=PersistenceConfig(ROOT_DATA_DIR=str(root)),
        stats=StatsConfig(processing_interval_seconds=0.05, metrics=[]),
    )


def moving_cart(frames: int = 40, height: int = 400, width: int = 600) -> np.ndarray:
    """T×H×W×C uint8 frames of a dark box moving right on white (what CartPole looks like)."""
    out = np.full((frames, height, width, 3), 255, np.uint8)
    for i in range(frames):
        x = 50 + 10 * i
        out[i, 250:280, x : x + 50] = (30, 30, 30)
    return out


def decoded(path: Path) -> tuple[str, tuple[int, int], float, int]:
    """(codec, size, fps, frames) as ffmpeg reads the file: proof that it is a real video."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    return meta["codec"], tuple(meta["size"]), float(meta["fps"]), sum(1 for _ in reader)


def mp4_file(tmp_path: Path, frames: int = 12, fps: float = 10.0) -> bytes:
    """An MP4 encoded by ffmpeg outside labtrack (what a user might have on disk)."""
    path = tmp_path / "outside.mp4"
    writer = imageio_ffmpeg.write_frames(
        str(path), (64, 48), fps=fps, macro_block_size=1, ffmpeg_log_level="error"
    )
    writer.send(None)
    for i in range(frames):
        writer.send(np.full((48, 64, 3), i * 20, np.uint8).tobytes())
    writer.close()
    return path.read_bytes()


def gif_bytes(frames: int = 3) -> bytes:
    images = [Image.new("RGB", (32, 24), (i * 80, 0, 0)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=100)
    return buffer.getvalue()


def test_frames_and_encoded_files_become_videos_at_the_tracker_step(tmp_path: Path) -> None:
    outside = mp4_file(tmp_path)
    with Tracker(make_config(tmp_path)) as tracker:
        tracker.process_and_log(7)
        tracker.log_video("Video/Episode", moving_cart(), fps=50)  # frames, at step 7
        tracker.log_video("Video/Episode", outside, step=9)  # an MP4 file's bytes
        tracker.log_video("Video/Gif", gif_bytes(), format="gif")
        run_dir = Path(tracker.get_run_base_dir())

    view = open_run(run_dir)
    assert view.status == "completed"
    assert view.video_tags == ["Video/Episode", "Video/Gif"]
    framed, encoded = view.videos("Video/Episode")
    assert (framed.step, framed.path.suffix) == (7, ".mp4")
    assert decoded(framed.path) == ("h264", (320, 212), 50.0, 40)  # downscaled, every frame
    assert Image.open(framed.png).size == (320, 212)  # the poster: its first frame
    assert (encoded.step, encoded.path.suffix, encoded.png) == (9, ".mp4", None)
    assert encoded.path.read_bytes() == outside  # stored as sent, not re-encoded
    assert decoded(encoded.path)[1:] == ((64, 48), 10.0, 12)
    (gif,) = view.videos("Video/Gif")
    assert gif.step == 7
    assert Image.open(gif.path).n_frames == 3


@pytest.mark.parametrize(
    ("video", "kwargs", "words"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(40), {}, "bytes for tag 'v' are not an MP4 or GIF file"),
        (b"GIF89a" + bytes(40), {}, "are a GIF file, not 'mp4': log them with format='gif'"),
        (moving_cart(2, 8, 8), {"format": "avi"}, "video format for tag 'v' must be 'mp4' or"),
        (moving_cart(2, 8, 8), {"fps": 0.0}, "fps for video 'v' must be a number > 0"),
        (moving_cart(2, 8, 8), {"step": -1}, "step for tag 'v' must be >= 0"),
    ],
)
def test_bad_videos_raise_naming_the_tag_and_record_nothing(
    tmp_path: Path, video: object, kwargs: dict[str, object], words: str
) -> None:
    with Tracker(make_config(tmp_path)) as tracker:
        with pytest.raises(ValueError, match=words.replace("(", r"\(")):
            tracker.log_video("v", video, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="tag must not be empty"):
            tracker.log_video("", b"GIF89a" + bytes(40), format="gif")
        run_dir = Path(tracker.get_run_base_dir())
    view = open_run(run_dir)
    assert view.video_tags == []
    assert view.status == "completed"  # a refused video is the caller's error, not data loss


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[object]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_a_worker_encodes_and_the_actor_stores_the_mp4(ray_cluster: object, tmp_path: Path) -> None:
    import ray

    import labtrack
    from labtrack.tracker import TrackerClient

    actor = labtrack.TrackerActor.options(name="video-tracker").remote(
        config=make_config(tmp_path, "ray"), sinks=[]
    )
    ray.get(actor.process_and_log.remote(5), timeout=300)

    @ray.remote(num_cpus=0)
    def worker() -> tuple[str, str]:
        with TrackerClient("video-tracker") as client:
            client.log_video("Video/Episode", moving_cart(), fps=50)  # at the tracker's step
            client.log_video("Video/Episode", moving_cart(10, 40, 60), step=12, max_size=None)
            with pytest.raises(ValueError, match="frame 1 of video 'Video/Episode' has shape"):
                client.log_video("Video/Episode", [np.zeros((8, 8, 3)), np.zeros((6, 8, 3))])
            with pytest.raises(ValueError, match="video format for tag 'Video/Episode'"):
                client.log_video("Video/Episode", moving_cart(2, 8, 8), format="avi")  # type: ignore[arg-type]
        return "sent", "raised"

    assert ray.get(worker.remote(), timeout=300) == ("sent", "raised")
    # sent to the actor directly: refused, logged by the actor, and the actor carries on
    assert ray.get(actor.log_video.remote("Video/Bad", b"not a video at all"), timeout=60) is False
    assert ray.get(actor.log_video.remote("Video/Gif", gif_bytes(), 3, format="gif")) is True
    run_dir = Path(ray.get(actor.get_run_base_dir.remote()))
    ray.get(actor.shutdown.remote(), timeout=120)
    ray.kill(actor)

    view = open_run(run_dir)
    assert view.video_tags == ["Video/Episode", "Video/Gif"]
    first, second = view.videos("Video/Episode")
    assert (first.step, second.step) == (5, 12)
    assert first.path.stat().st_size < 50_000  # raw, these 40 frames are 29 MB
    assert decoded(first.path) == ("h264", (320, 212), 50.0, 40)
    assert decoded(second.path) == ("h264", (60, 40), 30.0, 10)
    assert [v.step for v in view.videos("Video/Gif")] == [3]
