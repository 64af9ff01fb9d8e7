"""A full disk and failing files: reported once per outage, nothing lost that could be kept,
and a run that did lose data never says ``completed``.

The disk is a real tmpfs of a few MB (mounting needs root; the tests skip with the reason
elsewhere), filled with a real file until writes fail with ENOSPC.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import labtrack
from labtrack.errors import DataLossError


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs mounted for this test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill it needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` until ``leave`` bytes (roughly) are free; returns the filler file."""
    filler = disk / f"filler-{uuid.uuid4().hex[:6]}"
    block = b"\0" * 65536
    with open(filler, "wb") as fh:
        with contextlib.suppress(OSError):
            while True:
                free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
                if free <= leave:
                    break
                fh.write(block[: max(4096, min(len(block), free - leave))])
                fh.flush()
    return filler


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.ERROR) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "labtrack" and r.levelno == level]


def test_a_full_disk_is_reported_once_and_everything_is_written_when_space_is_back(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = labtrack.start_run("e", dir=small_disk, flush_interval=60)
    run.log_metric("a", -1.0)
    run.flush()
    filler = fill(small_disk)
    with caplog.at_level(logging.WARNING, logger="labtrack"):
        for step in range(20_000):  # about 1.2 MB of points: more than the disk has left
            run.log({"a": float(step), "b": -float(step), "c": 0.5}, step=step + 1)
            if step % 2_000 == 0:
                run.flush()  # never raises
        errors = messages(caplog)
        assert len(errors) == 1 and "No space left" in errors[0] and str(small_disk) in errors[0]
        filler.unlink()  # space is back
        run.flush()
        assert any("works again" in m for m in messages(caplog, logging.WARNING))
    run.finish()
    view = labtrack.store.open_run(run.dir)
    assert view.status == "completed" and view.problems == []
    assert view.scalars("a").values.tolist() == [-1.0, *map(float, range(20_000))]
    assert view.scalars("b").steps.tolist() == list(range(1, 20_001))


def test_what_fits_is_written_when_a_little_space_is_freed(small_disk: Path) -> None:
    run = labtrack.start_run("e", dir=small_disk, flush_interval=60)
    filler = fill(small_disk)
    for step in range(15):
        run.log({f"t{i}": float(step) for i in range(2_000)}, step=step)  # ~100 KB a step
        run.flush()
    # Free about 600 KB: the backlog is written a whole record at a time, oldest first, so
    # the steps that fit land now instead of nothing landing while any space is short.
    with open(filler, "r+b") as fh:
        fh.truncate(os.path.getsize(filler) - 600_000)
    run.flush()
    steps = labtrack.store.open_run(run.dir).scalars("t0").steps.tolist()
    assert 3 <= len(steps) < 15 and steps == list(range(len(steps)))
    filler.unlink()
    run.finish()
    assert labtrack.store.open_run(run.dir).scalars("t1999").steps.tolist() == list(range(15))


def test_a_run_that_lost_points_is_not_completed(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = labtrack.start_run("e", dir=small_disk, flush_interval=60, max_backlog_bytes=200_000)
    run.log_metric("kept", 1.0)
    run.flush()
    filler = fill(small_disk)
    with caplog.at_level(logging.ERROR, logger="labtrack"):
        for step in range(40):
            run.log({"x": np.arange(1.0, 2.0)[0] * step, "y": 1.0}, step=step)
            run.log({f"k{i}": 1.0 for i in range(500)}, step=step)  # ~8 KB a step
            run.flush()
        assert any("dropping newer points" in m for m in messages(caplog))
    filler.unlink()
    run.finish("completed")
    view = labtrack.store.open_run(run.dir)
    assert view.status == "failed"
    assert view.error is not None and view.error.type == "DataLoss"
    assert "could not be written" in view.error.message
    lost = view.meta["lost"]
    assert lost["points"] > 0
    assert any("lost data" in p for p in view.problems)
    steps = view.scalars("x").steps.tolist()
    assert steps == list(range(len(steps)))  # what was kept is the oldest data, contiguous
    assert view.scalars("kept").values.tolist() == [1.0]


def test_finish_on_a_full_disk_raises_and_records_the_loss(small_disk: Path) -> None:
    run = labtrack.start_run("e", dir=small_disk, flush_interval=60)
    run.log_metric("a", 0.0)
    run.flush()
    fill(small_disk, leave=48_000)  # room for the metadata, not for the data below
    for step in range(1, 20_000):
        run.log_metric("a", float(step))
    with pytest.raises(DataLossError, match=r"point\(s\) could not be written"):
        run.finish()
    view = labtrack.store.open_run(run.dir)
    assert view.status == "failed" and view.error is not None
    assert view.error.type == "DataLoss"
    values = view.scalars("a").values
    assert values.tolist() == list(map(float, range(len(values))))  # a prefix, never garbage
    with pytest.raises(labtrack.errors.StoreError, match="is finished"):
        run.log_metric("a", 1.0)


def test_media_on_a_full_disk_is_reported_once_and_training_goes_on(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = labtrack.start_run("e", dir=small_disk, flush_interval=60)
    fill(small_disk, leave=16_000)
    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    with caplog.at_level(logging.ERROR, logger="labtrack"):
        for step in range(5):
            run.log_image("noise", noise, step=step)  # ~200 KB each: never fits
            run.log_metric("loss", 1.0 / (step + 1), step=step)
    errors = [m for m in messages(caplog) if "noise" in m]
    assert len(errors) == 1 and "No space left" in errors[0]
    run.finish()
    view = labtrack.store.open_run(run.dir)
    assert view.scalars("loss").steps.tolist() == [0, 1, 2, 3, 4]
    assert view.status == "failed" and view.error is not None
    assert "media" in view.error.message and view.meta["lost"]["media"] == 5


def test_a_metadata_outage_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = labtrack.start_run("e", dir=tmp_path, flush_interval=0.02)
    meta_dir = run.dir / ".labtrack"
    # A directory where the metadata's temporary file goes: every metadata write fails (as a
    # permission error would, also for root) while the data file keeps taking writes.
    blockers = [meta_dir / f".meta.json.{os.getpid()}.tmp", meta_dir / "meta.json.tmp"]
    for blocker in blockers:
        blocker.mkdir()
    with caplog.at_level(logging.WARNING, logger="labtrack"):
        for step in range(60):
            run.log_metric("a", float(step))
            run.summary["step"] = step
            run.flush()
        errors = messages(caplog)
        assert len(errors) == 1 and "meta.json" in errors[0]
        assert not any("works again" in m for m in messages(caplog, logging.WARNING))
        for blocker in blockers:
            blocker.rmdir()
        run.flush()
        again = [m for m in messages(caplog, logging.WARNING) if "works again" in m]
        assert len(again) == 1 and "metadata" in again[0]
    run.finish()
    assert labtrack.store.open_run(run.dir).summary["step"] == 59


def test_enospc_is_what_the_disk_reports(small_disk: Path) -> None:
    """The fixture really fills the disk: a sanity check of the tests above."""
    fill(small_disk)
    with open(small_disk / "more", "wb", buffering=0) as fh, pytest.raises(OSError) as raised:
        fh.write(b"x" * 100_000)
    assert raised.value.errno == errno.ENOSPC
