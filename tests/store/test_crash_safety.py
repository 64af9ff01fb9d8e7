"""How a run ends when its process ends, every way a process can end (real subprocesses)."""

from __future__ import annotations

import json
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import labtrack
from labtrack.errors import RunLockedError
from labtrack.store._records import HEADER_SIZE, KIND_TAGS, KIND_TEXT, frame, frame_json, walk_file
from tests.conftest import run_python, start_python, wait_until_asleep

WRITER = """
import sys, time, labtrack
run = labtrack.start_run("crash", name="victim", dir="store", flush_interval=0.05)
print(run.dir, flush=True)
step = 0
while True:
    run.log_metric("loss", float(step), step=step)
    step += 1
    if step % 100 == 0:
        time.sleep(0.01)
"""


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A process logging into a run as fast as it can; killed at the end whatever happens."""
    proc = start_python(WRITER, tmp_path)
    try:
        run_dir = Path(proc.stdout.readline().strip())  # type: ignore[union-attr]
        yield proc, run_dir
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _wait_for_points(view: labtrack.RunView, n: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "loss" in view.scalar_tags and len(view.scalars("loss").values) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"writer did not persist {n} points in {timeout}s")


def test_sigkill_keeps_everything_flushed_and_reads_as_crashed(
    writer: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, run_dir = writer
    view = labtrack.store.open_run(run_dir)
    _wait_for_points(view, 2000)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    killed_at = time.time()

    after = labtrack.store.open_run(run_dir)
    assert after.status == "crashed"
    steps, values, walls = after.scalars("loss")
    # every point logged at least one flush interval (0.05 s) before the kill is there, in order
    assert steps.tolist() == list(range(len(steps)))
    assert values.tolist() == [float(s) for s in steps]
    assert walls[-1] > killed_at - 1.0
    assert after.problems == []


def test_torn_last_record_is_skipped_quietly(tmp_path: Path) -> None:
    with labtrack.start_run("e", dir=tmp_path) as run:
        run.log_metric("a", 1.0)
    record = frame_json(KIND_TEXT, [["t", 0, 0.0, "a record cut short"]])
    with open(run.dir / ".labtrack" / "data.ltr", "ab") as fh:
        fh.write(record[:20])  # a writer killed in the middle of its last write
    view = labtrack.store.open_run(run.dir)
    assert view.scalars("a").values.tolist() == [1.0]
    assert view.problems == []  # a write in progress or a killed writer: not damage


def test_a_completed_run_cut_short_is_reported(tmp_path: Path) -> None:
    with labtrack.start_run("e", dir=tmp_path) as run:
        run.log_metric("a", 1.0)
        run.flush()
        run.log_metric("a", 2.0)
    data = run.dir / ".labtrack" / "data.ltr"
    data.write_bytes(data.read_bytes()[:-5])  # e.g. a copy that stopped early
    view = labtrack.store.open_run(run.dir)
    assert view.scalars("a").values.tolist() == [1.0]
    assert len(view.problems) == 1 and "truncated" in view.problems[0]


def test_corruption_in_the_middle_is_reported_not_raised(tmp_path: Path) -> None:
    with labtrack.start_run("e", dir=tmp_path) as run:
        run.log_metric("a", 1.0)
        run.flush()
        run.log_metric("a", 2.0)
        run.flush()
        run.log_metric("a", 3.0)
    data = run.dir / ".labtrack" / "data.ltr"
    raw = bytearray(data.read_bytes())
    raw[-30] ^= 0xFF  # flip a byte inside the last scalar record
    data.write_bytes(bytes(raw))
    view = labtrack.store.open_run(run.dir)
    assert view.scalars("a").values.tolist() == [1.0, 2.0]
    assert len(view.problems) == 1 and "checksum mismatch" in view.problems[0]


def test_a_corrupt_block_loses_only_its_own_points(tmp_path: Path) -> None:
    with labtrack.start_run("e", dir=tmp_path) as run:
        for step, value in enumerate([1.5, 2.5, 3.5]):
            run.log({"a": value, "b": -value}, step=step)
            run.flush()
    data = run.dir / ".labtrack" / "data.ltr"
    raw = bytearray(data.read_bytes())
    raw[raw.index(struct.pack("<d", 2.5))] ^= 0xFF  # damage tag a's value at step 1
    data.write_bytes(bytes(raw))
    view = labtrack.store.open_run(run.dir)
    a = view.scalars("a")
    assert a.steps.tolist() == [0, 2] and a.values.tolist() == [1.5, 3.5]
    assert view.scalars("b").values.tolist() == [-1.5, -2.5, -3.5]  # the same record's other tag
    assert len(view.problems) == 1
    assert "tag 'a'" in view.problems[0] and "1 point(s) are left out" in view.problems[0]


def test_resuming_a_crashed_run_truncates_the_torn_tail_and_continues(
    writer: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, run_dir = writer
    _wait_for_points(labtrack.store.open_run(run_dir), 500)
    proc.kill()
    proc.wait(timeout=10)
    with open(run_dir / ".labtrack" / "data.ltr", "ab") as fh:
        fh.write(b"LT\x02\x00garbage")  # simulate a torn tail
    before = len(labtrack.store.open_run(run_dir).scalars("loss").values)

    with labtrack.start_run("crash", run_dir=run_dir) as resumed:
        resumed.log_metric("loss", -1.0)  # continues after the last persisted step
    view = labtrack.store.open_run(run_dir)
    steps = view.scalars("loss").steps
    assert len(steps) == before + 1 and steps[-1] == before
    assert view.status == "completed" and view.problems == []
    assert len(view.meta["resumed"]) == 1


@pytest.mark.parametrize(
    ("ending", "status"),
    [
        ("pass", "completed"),  # the script just ends, no finish()
        ("raise RuntimeError('boom')", "failed"),
        ("raise KeyboardInterrupt", "killed"),
        ("import sys; sys.exit(3)", "completed"),
        ("run.finish('failed')", "failed"),
    ],
)
def test_status_at_interpreter_exit(tmp_path: Path, ending: str, status: str) -> None:
    result = run_python(
        f"""
        import labtrack
        run = labtrack.start_run("exit", dir="store")
        for i in range(1000):
            run.log_metric("a", float(i))
        {ending}
        """,
        tmp_path,
    )
    (view,) = labtrack.Store(tmp_path / "store").runs()
    assert view.status == status, result.stderr
    assert len(view.scalars("a").values) == 1000


def test_sigterm_marks_killed_and_flushes(writer: tuple[subprocess.Popen[str], Path]) -> None:
    proc, run_dir = writer
    _wait_for_points(labtrack.store.open_run(run_dir), 200)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    view = labtrack.store.open_run(run_dir)
    assert view.status == "killed"
    steps = view.scalars("loss").steps
    assert steps.tolist() == list(range(len(steps)))


def test_sigterm_chains_to_the_programs_own_handler(tmp_path: Path) -> None:
    result = run_python(
        """
        import os, signal, labtrack
        seen = []
        signal.signal(signal.SIGTERM, lambda *a: seen.append("mine"))
        run = labtrack.start_run("e", dir="store")
        os.kill(os.getpid(), signal.SIGTERM)
        run.log_metric("after", 1.0)   # the program decided to carry on
        print(seen)
        """,
        tmp_path,
    )
    assert result.stdout.strip() == "['mine']", result.stderr
    assert labtrack.Store(tmp_path / "store").runs()[0].status == "completed"


def test_second_writer_is_refused_naming_owner(writer: tuple[subprocess.Popen[str], Path]) -> None:
    proc, run_dir = writer
    with pytest.raises(RunLockedError, match=rf"pid {proc.pid} on host {socket.gethostname()}"):
        labtrack.start_run("crash", run_dir=run_dir)


def test_other_hosts_run_is_crashed_only_when_its_heartbeat_is_stale(tmp_path: Path) -> None:
    with labtrack.start_run("e", dir=tmp_path) as run:
        pass
    meta_file = run.dir / ".labtrack" / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta.update(status="running", host="some-other-host", heartbeat=time.time())
    meta_file.write_text(json.dumps(meta))
    assert labtrack.store.open_run(run.dir).status == "running"
    meta["heartbeat"] = time.time() - 3600
    meta_file.write_text(json.dumps(meta))
    assert labtrack.store.open_run(run.dir).status == "crashed"


def test_sigterm_after_every_run_finished_ends_like_the_default(tmp_path: Path) -> None:
    proc = start_python(
        """
        import sys, time, labtrack
        with labtrack.start_run("e", dir="store"):
            pass
        print("ready", flush=True)
        for _ in range(600):
            time.sleep(0.1)  # short steps: see wait_until_asleep
        """,
        tmp_path,
    )
    assert proc.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
    wait_until_asleep(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == -signal.SIGTERM  # killed by the signal, no Python unwinding
    assert proc.stderr.read() == ""  # type: ignore[union-attr]


def _three_records(tmp_path: Path) -> tuple[Path, list[int]]:
    """A finished run whose data file holds 1,000 points in 10 flushes; the record offsets."""
    with labtrack.start_run("e", dir=tmp_path, flush_interval=60) as run:
        for flush in range(10):
            for i in range(100):
                run.log_metric("a", float(flush * 100 + i))
            run.flush()
    data = run.dir / ".labtrack" / "data.ltr"
    offsets = [
        r.offset - HEADER_SIZE for r in walk_file(open(data, "rb"), 0, data.stat().st_size).records
    ]
    return run.dir, offsets


def test_a_flipped_length_in_the_middle_is_damage_not_a_torn_tail(tmp_path: Path) -> None:
    run_dir, offsets = _three_records(tmp_path)
    data = run_dir / ".labtrack" / "data.ltr"
    raw = bytearray(data.read_bytes())
    size = len(raw)
    middle = offsets[len(offsets) // 2]
    raw[middle + 5] ^= 0x01  # one bit of the middle record's length field
    data.write_bytes(bytes(raw))

    view = labtrack.store.open_run(run_dir)
    values = view.scalars("a").values
    assert len(values) == 900  # only the damaged record's 100 points are missing
    assert set(values.tolist()) <= set(map(float, range(1000)))
    assert len(view.problems) == 1 and "damaged bytes from byte" in view.problems[0]

    with labtrack.start_run("e", run_dir=run_dir) as resumed:  # resuming never truncates damage
        resumed.log_metric("a", -1.0)
    assert data.stat().st_size > size
    assert data.read_bytes()[:size] == bytes(raw)
    again = labtrack.store.open_run(run_dir)
    assert again.scalars("a").values.tolist()[-1] == -1.0 and len(again.scalars("a").values) == 901


def test_a_corrupt_record_kind_is_reported_not_raised(tmp_path: Path) -> None:
    run_dir, offsets = _three_records(tmp_path)
    data = run_dir / ".labtrack" / "data.ltr"
    raw = bytearray(data.read_bytes())
    raw[offsets[1] + 2] = 3  # a scalar record now claims to be text
    data.write_bytes(bytes(raw))
    view = labtrack.store.open_run(run_dir)
    assert view.text_tags == []
    assert len(view.scalars("a").values) == 900 and view.problems


def test_a_record_that_verifies_but_does_not_parse_is_left_out(tmp_path: Path) -> None:
    with labtrack.start_run("e", dir=tmp_path) as run:
        run.log_text("notes", "kept")
        run.log_metric("a", 1.0)
    data = run.dir / ".labtrack" / "data.ltr"
    with open(data, "ab") as fh:  # crafted records with valid checksums
        fh.write(frame(KIND_TEXT, b"\xff\xfe not json"))
        fh.write(frame_json(KIND_TEXT, [["notes", "one", 0.0, 5]]))
        fh.write(frame_json(KIND_TAGS, {"not": "a table"}))
        fh.write(frame_json(KIND_TEXT, [["notes", 1, 0.0, "after the damage"]]))
    view = labtrack.store.open_run(run.dir)
    assert [e.text for e in view.text("notes")] == ["kept", "after the damage"]
    assert view.scalars("a").values.tolist() == [1.0]
    assert len(view.problems) == 3 and all("is left out" in p for p in view.problems)


def test_files_from_before_the_header_checksum_still_read(tmp_path: Path) -> None:
    with labtrack.start_run("e", dir=tmp_path) as run:
        run.log_metric("a", 1.0)
    data = run.dir / ".labtrack" / "data.ltr"
    walked = walk_file(open(data, "rb"), 0, data.stat().st_size)
    old = b""
    raw = data.read_bytes()
    for record in walked.records:  # rewrite every record with the old 12-byte header
        head = raw[record.offset - HEADER_SIZE : record.offset]
        length = int.from_bytes(head[4:8], "little")
        old += b"LT" + head[2:12] + raw[record.offset : record.offset + length]
    data.write_bytes(old)
    meta_file = run.dir / ".labtrack" / "meta.json"
    meta = json.loads(meta_file.read_text())
    for newer in ("data_size", "checksum"):  # what labtrack wrote then did not have these
        meta.pop(newer, None)
    meta_file.write_text(json.dumps(meta))
    view = labtrack.store.open_run(run.dir)
    assert view.scalars("a").values.tolist() == [1.0] and view.problems == []
