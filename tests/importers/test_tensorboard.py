"""Import real TensorBoard event files (tensorboardX and torch writers), compared point by point
with what TensorBoard's own EventAccumulator reads from the same files (no sampling)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorboard")
pytest.importorskip("tensorboardX")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import labtrack
from labtrack import importers
from labtrack.store import open_run
from tests.conftest import SRC

ALL = {"scalars": 0, "tensors": 0, "images": 0, "histograms": 0, "compressedHistograms": 0}


def accumulator(folder: Path) -> EventAccumulator:
    """TensorBoard's reader with nothing sampled away and nothing purged."""
    acc = EventAccumulator(str(folder), size_guidance=ALL, purge_orphaned_data=False)
    acc.Reload()
    return acc


def write_tensorboardx(folder: Path, steps: range, hparams: bool = False, suffix: str = "") -> None:
    from tensorboardX import SummaryWriter

    with SummaryWriter(str(folder), filename_suffix=suffix) as writer:
        log_tensorboardx(writer, steps)
        if hparams:
            writer.add_hparams({"lr": 0.01, "optimizer": "adam"}, {"hparam/best": 0.9})


def log_tensorboardx(writer, steps: range) -> None:
    for step in steps:
        writer.add_scalar("train/loss", 1 / (step + 1), step)
        writer.add_scalar("train/acc", step / 1000, step)
        if step % 50 == 0:
            writer.add_text("samples", f"step {step}: hello", step)
            writer.add_histogram("weights", np.arange(10.0) + step, step)
            image = np.full((3, 4, 5), step % 255, np.uint8)
            writer.add_image("inputs", image, step)


def write_torch(folder: Path, steps: range) -> None:
    pytest.importorskip("torch")
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder))
    for step in steps:
        # new_style: the tensor-encoded form (plugin "scalars") instead of simple_value
        writer.add_scalar("eval/loss", 2 / (step + 1), step, new_style=True)
        writer.add_scalar("eval/old_style", float(step), step)
        if step % 100 == 0:
            writer.add_text("notes", f"torch step {step}", step)
            writer.add_histogram("grads", np.arange(5.0), step)
    writer.close()


def assert_same_scalars(run_dir: Path, folder: Path) -> None:
    """Every scalar tag of the labtrack run equals TensorBoard's own reading, wall times too."""
    acc = accumulator(folder)
    view = open_run(run_dir)
    tb_tags = acc.Tags()["scalars"] + [
        t
        for t in acc.Tags()["tensors"]
        if acc.SummaryMetadata(t).plugin_data.plugin_name == "scalars"
    ]
    assert sorted(view.scalar_tags) == sorted(tb_tags)
    for tag in tb_tags:
        if tag in acc.Tags()["scalars"]:
            events = [(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)]
        else:
            events = [
                (e.step, float(np.asarray(e.tensor_proto.float_val)[0]), e.wall_time)
                for e in acc.Tensors(tag)
            ]
        steps, values, walls = view.scalars(tag)
        assert steps.tolist() == [e[0] for e in events], tag
        assert values.tolist() == [e[1] for e in events], tag
        assert walls.tolist() == [e[2] for e in events], tag


def test_every_point_text_image_and_hparam_arrive_as_tensorboard_reads_them(workdir: Path) -> None:
    logdir = workdir / "runs"
    write_tensorboardx(logdir / "tbx", range(1000), hparams=True)
    write_torch(logdir / "torch", range(500))

    report = importers.tensorboard(logdir, into="out", experiment="old")

    assert report.failed == []
    by_name = {r.name: r for r in report.runs}
    hparams_run = next(n for n in by_name if n.startswith("tbx/"))  # add_hparams' own folder
    assert set(by_name) == {"tbx", "torch", hparams_run}
    assert report.points == 2 * 1000 + 2 * 500 + 1
    # what labtrack cannot carry is counted, not dropped silently
    assert by_name["tbx"].skipped == {"histograms": 20}
    assert by_name["torch"].skipped == {"histograms": 5}

    store = labtrack.Store("out")
    views = {v.name: v for v in store.runs(experiment="old")}
    assert set(views) == set(by_name)
    assert_same_scalars(by_name["tbx"].run_dir, logdir / "tbx")
    assert_same_scalars(by_name["torch"].run_dir, logdir / "torch")

    acc = accumulator(logdir / "tbx")
    texts = views["tbx"].text("samples/text_summary")  # the tag tensorboardX writes and shows
    tb_texts = acc.Tensors("samples/text_summary")
    assert [t.step for t in texts] == [e.step for e in tb_texts]
    assert [t.text for t in texts] == [e.tensor_proto.string_val[0].decode() for e in tb_texts]
    assert [t.wall_time for t in texts] == [e.wall_time for e in tb_texts]
    images = views["tbx"].images("inputs")
    tb_images = acc.Images("inputs")
    assert [i.step for i in images] == [e.step for e in tb_images]
    assert [i.wall_time for i in images] == [e.wall_time for e in tb_images]
    assert [i.path.read_bytes() for i in images] == [e.encoded_image_string for e in tb_images]
    assert views["torch"].text("notes/text_summary")[-1].text == "torch step 400"
    walls = [e.wall_time for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)]
    assert views["tbx"].start_time <= min(walls) and views["tbx"].end_time >= max(walls)

    hp = views[hparams_run]
    assert hp.config == {"lr": 0.01, "optimizer": "adam"}
    assert hp.scalars("hparam/best").values.tolist() == [pytest.approx(0.9)]
    assert hp.tags["import.source"] == str(logdir / hparams_run)


def test_importing_again_creates_nothing_and_a_grown_run_gets_only_its_new_points(
    workdir: Path,
) -> None:
    from tensorboardX import SummaryWriter

    logdir = workdir / "runs"
    writer = SummaryWriter(str(logdir / "a"))  # a run still training
    log_tensorboardx(writer, range(300))
    writer.flush()
    first = importers.tensorboard(logdir, into="out")
    (run,) = first.created
    before = sorted(p.name for p in (workdir / "out" / "runs").iterdir())

    again = importers.tensorboard(logdir, into="out")
    assert [r.outcome for r in again.runs] == ["unchanged"]
    assert again.points == 0
    assert sorted(p.name for p in (workdir / "out" / "runs").iterdir()) == before
    assert open_run(run.run_dir).meta["resumed"] == []  # not even opened

    log_tensorboardx(writer, range(300, 450))  # the same event file grew
    writer.close()
    grown = importers.tensorboard(logdir, into="out")
    assert [r.outcome for r in grown.runs] == ["updated"]
    assert grown.points == 2 * 450 - first.points  # whatever the first import had not seen
    assert_same_scalars(run.run_dir, logdir / "a")

    write_tensorboardx(logdir / "a", range(450, 500), suffix=".resumed")  # a second event file
    resumed = importers.tensorboard(logdir, into="out")
    assert [r.outcome for r in resumed.runs] == ["updated"]
    assert resumed.points == 2 * 50
    assert sorted(p.name for p in (workdir / "out" / "runs").iterdir()) == before
    assert_same_scalars(run.run_dir, logdir / "a")
    view = open_run(run.run_dir)
    assert view.scalars("train/loss").steps.tolist() == list(range(500))
    assert [t.step for t in view.text("samples/text_summary")] == list(range(0, 500, 50))
    assert [i.step for i in view.images("inputs")] == list(range(0, 500, 50))


def test_a_corrupt_event_file_is_named_and_every_other_run_still_imports(workdir: Path) -> None:
    logdir = workdir / "runs"
    write_tensorboardx(logdir / "good", range(100))
    write_tensorboardx(logdir / "bad", range(100))
    write_tensorboardx(logdir / "torn", range(100))
    (bad_file,) = (logdir / "bad").glob("*tfevents*")
    data = bytearray(bad_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad_file.write_bytes(bytes(data))
    (torn_file,) = (logdir / "torn").glob("*tfevents*")
    torn_file.write_bytes(torn_file.read_bytes()[:-5])  # a writer still writing its last record

    report = importers.tensorboard(logdir, into="out")

    (failed,) = report.failed
    assert failed.name == "bad"
    assert str(bad_file) in str(failed.error) and "corrupt" in str(failed.error)
    assert sorted(r.name for r in report.created) == ["good", "torn"]
    torn = next(r for r in report.created if r.name == "torn")
    assert open_run(torn.run_dir).scalar_count("train/loss") == 100
    assert open_run(torn.run_dir).scalar_count("train/acc") == 99  # the torn point comes later
    assert "failed: bad: corrupt event file" in str(report)


def test_a_missing_logdir_is_an_error_naming_it(workdir: Path) -> None:
    with pytest.raises(importers.ImportSourceError, match="nowhere"):
        importers.tensorboard(workdir / "nowhere", into="out")


def test_command_line_import(workdir: Path) -> None:
    write_tensorboardx(workdir / "runs" / "exp1", range(200))
    command = [sys.executable, "-m", "labtrack", "import", "tensorboard", "runs", "--into", "store"]
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}

    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert "1 created" in done.stdout and "400 point(s) written" in done.stdout
    assert "not carried: 4 histograms" in done.stdout
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    listed = subprocess.run(
        [sys.executable, "-m", "labtrack", "ls", "store"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    assert "exp1" in listed.stdout
    again = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "1 unchanged" in again.stdout

    missing = subprocess.run(
        [*command[:4], "tensorboard", "nope"], cwd=workdir, env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "nope is not a folder" in missing.stderr


def test_a_progress_bar_is_drawn_on_a_terminal_only(workdir: Path) -> None:
    import os

    for i in range(3):
        write_tensorboardx(workdir / "runs" / f"r{i}", range(20))
    main, child = os.openpty()
    command = [sys.executable, "-m", "labtrack", "import", "tensorboard", "runs", "--into", "out"]
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "TERM": "xterm", "COLUMNS": "100"}
    try:
        done = subprocess.run(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=child)
        os.close(child)
        drawn = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(main)
    assert done.returncode == 0
    assert b"importing" in drawn and b"runs" in drawn  # the bar's description, on the terminal
    assert b"importing" not in done.stdout  # the report alone goes to stdout
