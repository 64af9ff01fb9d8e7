"""Import TensorBoard event files into labtrack, side by side with TensorBoard loading them.

    python bench/bench_importers.py            # 100 runs x 10 tags x 100,000 points (the issue's size)
    python bench/bench_importers.py --quick    # 2 runs x 10 tags x 20,000 points
    python bench/bench_importers.py --runs 4 --points 20000

The event files are written directly (TensorBoard's record framing, masked CRC-32C computed with
numpy over all records at once): tensorboardX takes about 65 us per point, 1.8 hours for the
full size. Each point is one ``Event`` with one ``simple_value``, as ``add_scalar`` writes it.
Then, on the same files:

* ``labtrack.importers.tensorboard(logdir, into=...)``: read with TensorBoard's own record
  reader, parsed, written to a labtrack store (points/s over the whole import, writing included);
* TensorBoard's ``EventAccumulator(run, size_guidance={"scalars": 0}).Reload()`` per run, which
  keeps every point (0 = no sampling) and writes nothing.

Both read every record through the same pure-Python CRC check of TensorBoard's stub reader, so
the difference is what each does per event. The goal: labtrack imports faster than TensorBoard
loads.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ _POLY, table >> 1).astype(np.uint32)
    return table


_TABLE = _crc_table()


def masked_crc32c(rows: np.ndarray) -> np.ndarray:
    """TFRecord's masked CRC-32C of each row of a 2-D uint8 array (all rows at once)."""
    crc = np.full(rows.shape[0], 0xFFFFFFFF, np.uint32)
    for j in range(rows.shape[1]):
        crc = _TABLE[(crc ^ rows[:, j]) & 0xFF] ^ (crc >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    masked = ((crc >> 15) | (crc << 17)) + np.uint32(0xA282EAD8)
    return masked.astype("<u4")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _step_columns(steps: np.ndarray, width: int) -> np.ndarray:
    """Varint bytes of ``steps``, all of ``width`` bytes, as an (n, width) uint8 array."""
    cols = np.empty((len(steps), width), np.uint8)
    rest = steps.astype(np.uint64)
    for j in range(width):
        cols[:, j] = (rest & np.uint64(0x7F)).astype(np.uint8)
        rest >>= np.uint64(7)
        if j < width - 1:
            cols[:, j] |= 0x80
    return cols


def event_records(tags: list[str], points: int, t0: float, seed: int) -> bytes:
    """The records of one run: for each step, one Event per tag (step-major, like a loop of
    ``add_scalar`` calls), serialized as the protobuf wire format and framed as a TFRecord."""
    rng = np.random.default_rng(seed)
    out = [_file_version_record(t0)]
    bounds = [0, 1 << 7, 1 << 14, 1 << 21, 1 << 28]
    for width in range(1, len(bounds)):
        lo, hi = bounds[width - 1], min(bounds[width], points)
        if lo >= hi:
            break
        steps = np.arange(lo, hi, dtype=np.int64)
        out.append(_records_of(tags, steps, width, t0, rng))
    return b"".join(out)


def _records_of(
    tags: list[str], steps: np.ndarray, width: int, t0: float, rng: np.random.Generator
) -> bytes:
    n_tags = len(tags)
    tag_len = len(tags[0].encode())
    value = 2 + tag_len + 5  # Value{tag, simple_value}
    summary = 2 + value  # Summary{value}
    body = 9 + 1 + width + 2 + summary  # Event{wall_time, step, summary}
    rows = len(steps) * n_tags
    data = np.empty((rows, body), np.uint8)
    walls = np.repeat(t0 + steps * 0.01, n_tags) + np.tile(np.arange(n_tags) * 1e-4, len(steps))
    values = rng.standard_normal(rows).astype("<f4")
    data[:, 0] = 0x09
    data[:, 1:9] = walls.astype("<f8").view(np.uint8).reshape(rows, 8)
    data[:, 9] = 0x10
    data[:, 10 : 10 + width] = np.repeat(_step_columns(steps, width), n_tags, axis=0)
    at = 10 + width
    data[:, at : at + 2] = [0x2A, summary]
    data[:, at + 2 : at + 4] = [0x0A, value]
    data[:, at + 4 : at + 6] = [0x0A, tag_len]
    names = np.frombuffer(b"".join(t.encode() for t in tags), np.uint8).reshape(n_tags, tag_len)
    data[:, at + 6 : at + 6 + tag_len] = np.tile(names, (len(steps), 1))
    data[:, at + 6 + tag_len] = 0x15
    data[:, at + 7 + tag_len :] = values.view(np.uint8).reshape(rows, 4)
    length = np.frombuffer(struct.pack("<Q", body), np.uint8)
    header = np.tile(length, (rows, 1))
    framed = np.empty((rows, 8 + 4 + body + 4), np.uint8)
    framed[:, :8] = header
    framed[:, 8:12] = masked_crc32c(header[:1]).view(np.uint8)  # the same length: one CRC
    framed[:, 12 : 12 + body] = data
    framed[:, 12 + body :] = masked_crc32c(data).view(np.uint8).reshape(rows, 4)
    return framed.tobytes()


def _file_version_record(t0: float) -> bytes:
    version = b"brain.Event:2"
    body = b"\x09" + struct.pack("<d", t0) + b"\x1a" + _varint(len(version)) + version
    header = struct.pack("<Q", len(body))
    crc = masked_crc32c(np.frombuffer(header, np.uint8)[None, :]).tobytes()
    return header + crc + body + masked_crc32c(np.frombuffer(body, np.uint8)[None, :]).tobytes()


def write_logdir(root: Path, runs: int, tags: int, points: int) -> None:
    names = [f"train/metric_{i:02d}" for i in range(tags)]
    for r in range(runs):
        folder = root / f"run_{r:03d}"
        folder.mkdir(parents=True)
        t0 = 1.7e9 + r * 1000
        path = folder / f"events.out.tfevents.{int(t0)}.bench"
        path.write_bytes(event_records(names, points, t0, seed=r))


def _check_framing(root: Path) -> None:
    """The generated files must read back through TensorBoard's reader with every CRC valid."""
    from labtrack.importers._tensorboard import read_records

    first = next(root.glob("*/events.out.tfevents.*"))
    count = sum(1 for _ in read_records(first))
    print(f"  generated files verified with TensorBoard's reader ({count:,} records in one file)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--tags", type=int, default=10)
    parser.add_argument("--points", type=int, default=100_000, help="points per tag")
    parser.add_argument("--quick", action="store_true", help="2 runs x 10 tags x 20,000 points")
    parser.add_argument("--dir", help="work folder (default: a temporary one, removed after)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.tags, args.points = 2, 10, 20_000
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from labtrack import Store, importers

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-importers-"))
    total = args.runs * args.tags * args.points
    print(
        f"{args.runs} runs x {args.tags} tags x {args.points:,} points = {total:,} points "
        f"(Python {sys.version.split()[0]})"
    )
    try:
        logdir = work / "logdir"
        started = time.perf_counter()
        write_logdir(logdir, args.runs, args.tags, args.points)
        size = sum(p.stat().st_size for p in logdir.rglob("*tfevents*"))
        print(
            f"  wrote {size / 1e6:,.0f} MB of event files in {time.perf_counter() - started:.1f} s"
        )
        _check_framing(logdir)

        started = time.perf_counter()
        report = importers.tensorboard(logdir, into=work / "store", progress_bar=False)
        took = time.perf_counter() - started
        assert not report.failed, report
        assert report.points == total, (report.points, total)
        print(
            f"  labtrack import: {took:,.1f} s, {total / took:,.0f} points/s (written to the store)"
        )

        started = time.perf_counter()
        loaded = 0
        for folder in sorted(logdir.iterdir()):
            acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
            acc.Reload()
            loaded += sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])
        tb = time.perf_counter() - started
        assert loaded == total, (loaded, total)
        print(
            f"  TensorBoard EventAccumulator load (size_guidance 0): {tb:,.1f} s, "
            f"{total / tb:,.0f} points/s (in memory only)"
        )
        print(
            f"  labtrack imports {tb / took:.2f}x as fast as TensorBoard loads "
            f"({'goal met' if took < tb else 'goal NOT met'})"
        )

        view = next(iter(Store(work / "store").runs()))
        started = time.perf_counter()
        view.scalars("train/metric_00")
        print(
            f"  afterwards, one {args.points:,}-point tag reads back from labtrack in "
            f"{(time.perf_counter() - started) * 1e3:.1f} ms"
        )
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
