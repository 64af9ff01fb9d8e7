"""Make the viewer benchmark's stores (and the same scalars as TensorBoard event files).

    python bench/make_viewer_store.py bench/_results/viewer            # defaults below
    python bench/make_viewer_store.py DIR --runs 20 --tags 5 --points 200000 --table-runs 5000

Writes ``DIR/big`` (RUNS runs x TAGS tags x POINTS points, through ``labtrack.start_run``),
``DIR/many`` (TABLE_RUNS small runs, for the runs table) and ``DIR/tb`` (the same scalars as
``DIR/big`` as TensorBoard event files, one directory per run). Event files are encoded here with
numpy (records grouped by length, CRC32C computed column-wise) because TensorBoard's own Python
writers take ~100 us per point, hours for 20 million points; the bytes are the standard
TFRecord/Event framing TensorBoard reads (checked by reading one file back with TensorBoard's
``EventFileLoader``).
"""

from __future__ import annotations

import argparse
import shutil
import struct
import time
from pathlib import Path

import numpy as np

import labtrack

TAGS = ["train/loss", "train/acc", "eval/loss", "eval/acc", "lr"]


def series(run: int, tag_index: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(run * 100 + tag_index)
    steps = np.arange(n)
    base = np.exp(-steps / (n / 5)) * (1 + 0.1 * run) + 0.05
    noise = rng.normal(0, 0.02, n)
    if tag_index % 2:
        return 1 - base / 2 + noise
    return base + noise


def make_big(root: Path, runs: int, tags: int, points: int) -> None:
    names = (TAGS * (tags // len(TAGS) + 1))[:tags]
    names = [n if i < len(TAGS) else f"{n}_{i}" for i, n in enumerate(names)]
    for r in range(runs):
        cols = [series(r, t, points) for t in range(tags)]
        with labtrack.start_run(
            "bench", name=f"run{r:02d}", config={"lr": 10 ** -(1 + r % 4), "seed": r}, dir=root
        ) as run:
            for s in range(points):
                run.log({names[t]: float(cols[t][s]) for t in range(tags)}, step=s)
        print(f"  big: run {r + 1}/{runs}", flush=True)


def make_many(root: Path, count: int) -> None:
    for r in range(count):
        with labtrack.start_run(
            f"sweep{r % 5}",
            name=f"trial{r:05d}",
            config={"lr": 10 ** -(1 + r % 4), "depth": 2 + r % 6, "opt": ["adam", "sgd"][r % 2]},
            dir=root,
        ) as run:
            run.log({"loss": 1.0 / (r + 1)}, step=0)
            run.summary["acc"] = (r % 100) / 100
        if (r + 1) % 500 == 0:
            print(f"  many: {r + 1}/{count}", flush=True)


# -- TensorBoard event files ----------------------------------------------------------------
def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table[i] = c
    return table


CRC_TABLE = _crc_table()


def masked_crc32c(rows: np.ndarray) -> np.ndarray:
    """Masked CRC32C of each row of a (records, length) uint8 array, computed column-wise."""
    crc = np.full(rows.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for col in range(rows.shape[1]):
        crc = CRC_TABLE[(crc ^ rows[:, col]) & 0xFF] ^ (crc >> np.uint32(8))
    crc ^= np.uint32(0xFFFFFFFF)
    return (((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(0xA282EAD8)).astype(
        np.uint32
    )


def _varint_cols(values: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((len(values), width), dtype=np.uint8)
    v = values.astype(np.uint64)
    for i in range(width):
        byte = (v & np.uint64(0x7F)).astype(np.uint8)
        v = v >> np.uint64(7)
        if i < width - 1:
            byte |= 0x80
        out[:, i] = byte
    return out


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_events(
    tag: str, steps: np.ndarray, values: np.ndarray, walls: np.ndarray
) -> list[np.ndarray]:
    """TFRecord-framed ``Event{wall_time, step, summary{value{tag, simple_value}}}`` records:
    one (records, bytes) array per varint width of the step, in step order."""
    tag_b = tag.encode()
    value_msg_head = b"\x0a" + _varint(len(tag_b)) + tag_b + b"\x15"  # tag, then float32 value
    value_len = len(value_msg_head) + 4
    summary_head = b"\x0a" + _varint(value_len)
    summary_len = len(summary_head) + value_len
    chunks: list[np.ndarray] = []
    widths = np.maximum(1, np.ceil(np.log2(steps.astype(float) + 2) / 7)).astype(int)
    for width in np.unique(widths):
        sel = np.flatnonzero(widths == width)
        m = len(sel)
        head = np.frombuffer(b"\x09", np.uint8)
        parts = [
            np.broadcast_to(head, (m, 1)),
            np.ascontiguousarray(walls[sel].astype("<f8")).view(np.uint8).reshape(m, 8),
            np.broadcast_to(np.frombuffer(b"\x10", np.uint8), (m, 1)),
            _varint_cols(steps[sel], int(width)),
            np.broadcast_to(
                np.frombuffer(
                    b"\x2a" + _varint(summary_len) + summary_head + value_msg_head, np.uint8
                ),
                (m, 2 + len(summary_head) + len(value_msg_head)),
            ),
            np.ascontiguousarray(values[sel].astype("<f4")).view(np.uint8).reshape(m, 4),
        ]
        data = np.ascontiguousarray(np.concatenate(parts, axis=1))
        length = np.full(m, data.shape[1], dtype="<u8").view(np.uint8).reshape(m, 8)
        framed = np.concatenate(
            [
                length,
                masked_crc32c(length).astype("<u4").view(np.uint8).reshape(m, 4),
                data,
                masked_crc32c(data).astype("<u4").view(np.uint8).reshape(m, 4),
            ],
            axis=1,
        )
        chunks.append(framed)
    return chunks


def file_version_record(wall: float) -> bytes:
    data = b"\x09" + struct.pack("<d", wall) + b"\x1a\x0dbrain.Event:2"
    length = struct.pack("<Q", len(data))
    arr = lambda b: np.frombuffer(b, np.uint8).reshape(1, -1)  # noqa: E731
    return (
        length
        + struct.pack("<I", int(masked_crc32c(arr(length))[0]))
        + data
        + struct.pack("<I", int(masked_crc32c(arr(data))[0]))
    )


def make_tensorboard(big: Path, out: Path) -> None:
    """The scalars of every run under ``big`` as one event file per run."""
    for view in labtrack.Store(big).runs():
        run_dir = out / view.name
        run_dir.mkdir(parents=True, exist_ok=True)
        start = view.start_time or time.time()
        path = run_dir / f"events.out.tfevents.{int(start)}.bench"
        with open(path, "wb") as fh:
            fh.write(file_version_record(start))
            # every tag shares the steps: interleave them step by step, as a training loop would
            per_tag = []
            for tag in view.scalar_tags:
                s = view.scalars(tag)
                per_tag.append(encode_events(tag, s.steps, s.values, s.wall_times))
            for group in zip(*per_tag, strict=True):
                fh.write(np.concatenate(group, axis=1).tobytes())
        print(f"  tensorboard: {view.name}", flush=True)


def check_tensorboard(out: Path) -> int:
    """Read one event file back with TensorBoard's own loader; the number of scalar events."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    first = sorted(out.glob("*/events.out.tfevents.*"))[0]
    return sum(1 for e in EventFileLoader(str(first)).Load() if e.summary.value)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dir", type=Path)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--tags", type=int, default=5)
    p.add_argument("--points", type=int, default=200_000)
    p.add_argument("--table-runs", type=int, default=5000)
    p.add_argument("--skip", nargs="*", default=[], choices=["big", "many", "tb"])
    args = p.parse_args()
    for part, fn in [
        ("big", lambda d: make_big(d, args.runs, args.tags, args.points)),
        ("many", lambda d: make_many(d, args.table_runs)),
        ("tb", lambda d: make_tensorboard(args.dir / "big", d)),
    ]:
        if part in args.skip:
            continue
        target = args.dir / part
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        t = time.perf_counter()
        fn(target)
        print(f"{part}: {time.perf_counter() - t:.1f} s", flush=True)
    if "tb" not in args.skip:
        print(
            f"tensorboard read-back: {check_tensorboard(args.dir / 'tb')} scalar events in one file"
        )


if __name__ == "__main__":
    main()
