"""The flagship pipeline (examples/distributed_rl), run as a user runs it: in a subprocess.

Each test starts ``python -m examples.distributed_rl`` (its own local Ray session), reads what
it prints and what it recorded (checkpoint files, the labtrack run), and kills it for real
(SIGKILL) where the test is about surviving that.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import labtrack
from labtrack.tracker.persistence import read_state_file, step_files

pytest.importorskip("ray")
pytest.importorskip("torch")
pytest.importorskip("gymnasium")
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--workers", "2", "--seed", "0", "--rollout-steps", "1024", "--checkpoint-every", "32"]
RESUMED = re.compile(
    r"resumed from (?P<path>\S+): global step (?P<step>\d+), (?P<episodes>\d+) episodes, "
    r"buffer (?P<buffer>\d+) transitions \((?P<fp>\w+)\), optimizer at step (?P<opt>\d+), "
    r"tracker at episode (?P<tracker_episodes>\d+)"
)


class Pipeline:
    """One ``python -m examples.distributed_rl`` process, its log in a file."""

    def __init__(self, data_dir: Path, run_name: str, *args: str) -> None:
        self.log_path = data_dir / f"{run_name}-{time.monotonic_ns()}.log"
        self.log_file = self.log_path.open("w")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
        cmd = [sys.executable, "-m", "examples.distributed_rl", "--run-name", run_name]
        self.proc = subprocess.Popen(
            [*cmd, "--data-dir", str(data_dir), *SMALL, *args],
            cwd=REPO,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its Ray processes can be cleaned up as one group
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, pattern: str, timeout: float = 180) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log)
            if found:
                return found
            assert self.proc.poll() is None, f"the pipeline exited:\n{self.log[-3000:]}"
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} within {timeout} s:\n{self.log[-3000:]}")

    def finish(self, timeout: float = 240) -> str:
        try:
            assert self.proc.wait(timeout) == 0, self.log[-3000:]
        finally:
            self.cleanup()
        return self.log

    def sigkill(self) -> None:
        """SIGKILL the driver (the realistic crash), then whatever Ray it started."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        time.sleep(1)
        self.cleanup()

    def cleanup(self) -> None:
        """End every process left in the pipeline's group (Ray's) and wait until they are gone."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        self.log_file.close()


@pytest.fixture
def pipelines() -> Iterator[list[Pipeline]]:
    started: list[Pipeline] = []
    yield started
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
        p.cleanup()


def run_dir(data_dir: Path, name: str) -> Path:
    return data_dir / "DistributedRL" / "runs" / name


def wait_until_not_running(data_dir: Path, timeout: float = 60) -> labtrack.RunView:
    """The run, once its writer (the tracker actor, in its own process) is gone."""
    deadline = time.monotonic() + timeout
    while True:
        (view,) = labtrack.Store(data_dir).runs()
        if view.status != "running" or time.monotonic() > deadline:
            return view
        time.sleep(0.2)


def latest_checkpoint(run: Path) -> dict:
    return read_state_file(run / "checkpoints" / "latest.pkl", "checkpoint")


def points(view: labtrack.RunView, name: str) -> list[tuple[int, float]]:
    scalars = view.scalars(name)
    return list(zip(scalars.steps.tolist(), scalars.values.tolist(), strict=True))


def test_sigkilled_run_resumes_from_its_latest_checkpoint(
    tmp_path: Path, pipelines: list[Pipeline]
) -> None:
    first = Pipeline(tmp_path, "r", "--max-steps", "100000", "--target-score", "0")
    pipelines.append(first)
    first.wait_for(r"checkpoint at step (19[2-9]|2\d\d|[3-9]\d\d)")  # a few checkpoints in
    first.sigkill()

    run = run_dir(tmp_path, "r")
    ckpt = latest_checkpoint(run)
    saved = ckpt["global_step"]
    before = wait_until_not_running(tmp_path)
    assert before.status == "crashed"
    # Loss/Steps_Aggregated: how many training steps each Loss/Total point aggregates
    counted_before = points(before, "Loss/Steps_Aggregated")
    killed_at = counted_before[-1][0]
    assert sum(n for step, n in counted_before if step <= saved) == saved  # steps 1..saved
    assert saved in [step for step, _ in counted_before]  # logged at the checkpoint itself

    end = saved + 96
    second = Pipeline(tmp_path, "r", "--max-steps", str(end), "--target-score", "0")
    pipelines.append(second)
    log = second.finish()
    resumed = RESUMED.search(log)
    assert resumed, log[-3000:]
    # global step, episodes, buffer, optimizer state and tracker state are the checkpoint's
    assert int(resumed["step"]) == saved
    assert int(resumed["episodes"]) == ckpt["episodes_played"]
    assert resumed["fp"] == ckpt["user_data"]["buffer_fingerprint"]
    assert int(resumed["opt"]) == saved  # Adam's step count: one per global step
    assert int(resumed["tracker_episodes"]) == ckpt["actor_state"]["aggregator"]["episodes"]
    assert f"checkpoint at step {end}" in log

    # the same labtrack run, now completed, continues after the checkpoint
    (after,) = labtrack.Store(tmp_path).runs()
    assert (after.id, after.status) == (before.id, "completed")
    counted = points(after, "Loss/Steps_Aggregated")
    assert counted[: len(counted_before)] == counted_before
    counted_after = counted[len(counted_before) :]
    assert counted_after[-1][0] == end
    # no gap: every step after the checkpoint is in exactly one point of the resumed process
    assert sum(n for _, n in counted_after) == end - saved
    # duplicates only in the documented window: steps after the checkpoint the killed process
    # had logged (at most a checkpoint interval and an update, plus a save in flight)
    assert 0 <= killed_at - saved <= 2 * 32 + 20
    episodes = [v for _, v in points(after, "Progress/Episodes_Played")]
    assert episodes[-1] > ckpt["episodes_played"]


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(
    tmp_path: Path, pipelines: list[Pipeline]
) -> None:
    first = Pipeline(
        tmp_path, "c", "--max-steps", "128", "--target-score", "0", "--video-every", "0"
    )
    pipelines.append(first)
    first.finish()
    assert labtrack.Store(tmp_path).runs()[0].video_tags == []  # --video-every 0: no videos
    run = run_dir(tmp_path, "c")
    steps = [int(p.stem.rsplit("_", 1)[1]) for p in step_files(run / "checkpoints")]
    assert steps[0] == 128
    previous = read_state_file(
        run / "checkpoints" / f"checkpoint_step_{steps[1]}.pkl", "checkpoint"
    )
    with (run / "checkpoints" / "latest.pkl").open("r+b") as f:  # a few flipped bytes mid-file
        f.seek(200)
        f.write(b"\x00garbage\x00")

    second = Pipeline(tmp_path, "c", "--target-score", "0")
    pipelines.append(second)
    resumed = second.wait_for(RESUMED.pattern)
    assert Path(resumed["path"]).name == f"checkpoint_step_{steps[1]}.pkl"
    assert int(resumed["step"]) == steps[1] == previous["global_step"]
    # the buffer saved with that checkpoint, not the newer buffer.pkl
    assert resumed["fp"] == previous["user_data"]["buffer_fingerprint"]

    # a STOP file in the run directory ends the run cleanly, with a final checkpoint
    second.wait_for(r"checkpoint at step (1[6-9]\d|[2-9]\d\d)")
    (run / "STOP").touch()
    log = second.finish()
    assert "STOP found" in log
    final = int(re.findall(r"checkpoint at step (\d+)", log)[-1])
    assert latest_checkpoint(run)["global_step"] == final
    assert not (run / "STOP").exists()


def test_killed_worker_is_replaced_and_training_goes_on(
    tmp_path: Path, pipelines: list[Pipeline]
) -> None:
    p = Pipeline(tmp_path, "w", "--target-score", "0")
    pipelines.append(p)
    pid = int(p.wait_for(r"worker 1 ready \(pid (\d+)\)")[1])
    step = int(p.wait_for(r"checkpoint at step (\d+)")[1])
    os.kill(pid, signal.SIGKILL)
    p.wait_for(r"worker 1 replaced \(new pid \d+\)")
    assert re.search(r"worker 1 died \((ActorDiedError|RayActorError)", p.log)
    p.wait_for(rf"checkpoint at step ({'|'.join(str(step + 32 * k) for k in range(3, 40))})\b")

    # SIGTERM ends it cleanly too: a final checkpoint and exit status 0
    p.proc.send_signal(signal.SIGTERM)
    log = p.finish()
    assert "stopping: SIGTERM" in log
    final = int(re.findall(r"checkpoint at step (\d+)", log)[-1])
    (view,) = labtrack.Store(tmp_path).runs()
    assert view.status == "completed"
    assert points(view, "System/Worker_Replacements")[-1][1] == 1.0
    assert points(view, "System/Num_Active_Workers")[-1][1] == 2.0
    assert points(view, "Loss/Total")[-1][0] == final
    assert latest_checkpoint(run_dir(tmp_path, "w"))["user_data"]["worker_replacements"] == 1


def test_a_short_fixed_seed_run_learns(tmp_path: Path, pipelines: list[Pipeline]) -> None:
    # A uniformly random CartPole policy scores about 22; 400 PPO steps (about 13 updates) reach well above 60.
    p = Pipeline(tmp_path, "l", "--max-steps", "400", "--target-score", "0", "--video-every", "100")
    pipelines.append(p)
    p.finish()
    (view,) = labtrack.Store(tmp_path).runs()
    mean_scores = view.scalars("Episode/Mean_Score").values.tolist()
    assert mean_scores[0] < 40
    assert mean_scores[-1] >= 60, mean_scores

    # worker 0's first episode and every 100th after it, as MP4s the viewer plays
    videos = view.videos("Video/Episode")
    assert len(videos) >= 2, [v.step for v in videos]
    steps = [v.step for v in videos]
    assert steps[0] == 0 and steps == sorted(set(steps))  # at most one per global step
    for video in videos:
        reader = imageio_ffmpeg.read_frames(str(video.path))
        meta = next(reader)
        assert (meta["codec"], tuple(meta["size"]), meta["fps"]) == ("h264", (300, 200), 25.0)
        assert sum(1 for _ in reader) >= 5  # an episode of at least 9 steps, every 2nd


def test_command_line_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    from labtrack.cli._demo_rl import main

    with pytest.raises(SystemExit) as exited:
        main(["--help"])  # what `labtrack demo rl --help` prints
    assert exited.value.code == 0
    usage = capsys.readouterr().out
    assert usage.startswith("usage: labtrack demo rl")
    for option in ("--run-name", "--workers", "--minutes", "--max-steps", "--video-every", "STOP"):
        assert option in usage
