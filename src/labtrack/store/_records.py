"""Framing and encoding of the records in a run's append-only data file.

Every flush appends whole records; nothing is ever rewritten. A record is a fixed header followed
by a payload::

    magic  b"LT"   2 bytes
    kind   u8      TAGS | SCALARS | TEXT | MEDIA | ARTIFACT
    flags  u8      BLOCK_CRC for scalar records (see below), else 0
    length u32     payload bytes
    crc32  u32     zlib.crc32 of the payload (of the block table only, with BLOCK_CRC)

A reader walks records from the start and stops quietly at the first one that is incomplete: that
is a torn tail left by a killed writer (or a write in progress), never an error. A checksum that
does not match is corruption: reading stops there and says so.

Scalar payloads are columns, one block per tag, so reading a tag is a few ``numpy.frombuffer``
calls. Per point they cost 8 bytes of value, 4 bytes of wall-time offset (float32 seconds from the
record's base time, about 1 µs resolution over a 10 s span) and either nothing for the step (the
common case of evenly spaced steps, stored as start and stride) or 8 bytes. A scalar record has
flag ``BLOCK_CRC``: its header checksum covers only the block table, and each block carries its
own checksum, so a reader of one tag reads and verifies that tag's bytes and skips the others::

    base_wall f64 | n_blocks u32 | reserved u32
    table: n_blocks x (tag_id u32 | count u32 | step_mode u8 | pad[3] | body_len u32 | body_crc u32)
    bodies, in table order: steps | values f64[count] | dwall f32[count]
    steps: step_mode 1 -> start i64, stride i64; step_mode 0 -> i64[count]

Text, media and artifact payloads are JSON: they are rare and can afford it.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

MAGIC = b"LT"
HEADER = struct.Struct("<2sBBII")
HEADER_SIZE = HEADER.size

KIND_TAGS = 1
KIND_SCALARS = 2
KIND_TEXT = 3
KIND_MEDIA = 4
KIND_ARTIFACT = 5

BLOCK_CRC = 1
_SCALAR_HEAD = struct.Struct("<dII")
_TABLE_ENTRY = struct.Struct("<IIB3xII")
_RANGE = struct.Struct("<qq")


def frame(kind: int, payload: bytes, flags: int = 0, checked: int | None = None) -> bytes:
    """One whole record: header + payload; the first ``checked`` payload bytes are checksummed
    (all of them by default)."""
    crc = zlib.crc32(payload if checked is None else memoryview(payload)[:checked])
    return HEADER.pack(MAGIC, kind, flags, len(payload), crc) + payload


def frame_json(kind: int, obj: Any) -> bytes:
    return frame(kind, json.dumps(obj, separators=(",", ":"), allow_nan=True).encode())


@dataclass(frozen=True)
class ScalarBlock:
    """One tag's points inside one scalar record."""

    tag_id: int
    steps: np.ndarray  # int64
    values: np.ndarray  # float64
    wall_times: np.ndarray  # float64


@dataclass(frozen=True)
class BlockRef:
    """Where one tag's block sits: ``offset`` is relative to the payload start, or absolute in
    the file once a walker has placed it."""

    tag_id: int
    count: int
    mode: int
    offset: int
    length: int
    crc: int
    base: float


def frame_scalars(blocks: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]) -> bytes:
    """A whole scalar record of ``(tag_id, steps int64, values float64, wall_times float64)``."""
    base = min(float(w[0]) for _, _, _, w in blocks if len(w)) if blocks else 0.0
    table = [_SCALAR_HEAD.pack(base, len(blocks), 0)]
    bodies = []
    for tag_id, steps, values, walls in blocks:
        count = len(values)
        diffs = np.diff(steps) if count > 1 else None
        evenly = count == 1 or (diffs is not None and bool((diffs == diffs[0]).all()))
        if evenly:
            stride = int(diffs[0]) if diffs is not None else 1
            step_bytes = _RANGE.pack(int(steps[0]), stride)
        else:
            step_bytes = steps.astype("<i8", copy=False).tobytes()
        body = b"".join(
            (
                step_bytes,
                values.astype("<f8", copy=False).tobytes(),
                (walls - base).astype("<f4").tobytes(),
            )
        )
        entry = _TABLE_ENTRY.pack(tag_id, count, 1 if evenly else 0, len(body), zlib.crc32(body))
        table.append(entry)
        bodies.append(body)
    head = b"".join(table)
    return frame(KIND_SCALARS, head + b"".join(bodies), flags=BLOCK_CRC, checked=len(head))


def table_size(head: bytes | memoryview) -> int:
    """Bytes taken by a scalar payload's table (needs the payload's first 16 bytes)."""
    _, n_blocks, _ = _SCALAR_HEAD.unpack_from(head, 0)
    return int(_SCALAR_HEAD.size + n_blocks * _TABLE_ENTRY.size)


def scalar_table(head: bytes | memoryview, length: int) -> list[BlockRef] | str:
    """The blocks of a scalar payload of ``length`` bytes from its table (offsets relative to the
    payload start), or why the table is malformed."""
    if len(head) < _SCALAR_HEAD.size or length < _SCALAR_HEAD.size:
        return "scalar record too short"
    base, n_blocks, _ = _SCALAR_HEAD.unpack_from(head, 0)
    size = _SCALAR_HEAD.size + n_blocks * _TABLE_ENTRY.size
    if size > length or len(head) < size:
        return "scalar record table larger than the record"
    refs = []
    pos = size
    for i in range(n_blocks):
        tag_id, count, mode, body_len, crc = _TABLE_ENTRY.unpack_from(
            head, _SCALAR_HEAD.size + i * _TABLE_ENTRY.size
        )
        refs.append(BlockRef(tag_id, count, mode, pos, body_len, crc, base))
        pos += body_len
    if pos != length:
        return "scalar record blocks do not add up to its length"
    return refs


def decode_block(ref: BlockRef, body: bytes | memoryview) -> ScalarBlock | None:
    """The points of one block in new arrays, or None when its bytes do not match its checksum."""
    if not block_ok(ref, body):
        return None
    steps = np.empty(ref.count, np.int64)
    values = np.empty(ref.count, np.float64)
    walls = np.empty(ref.count, np.float64)
    decode_into(ref, body, steps, values, walls)
    return ScalarBlock(ref.tag_id, steps, values, walls)


def block_ok(ref: BlockRef, body: bytes | memoryview) -> bool:
    return len(body) == ref.length and zlib.crc32(body) == ref.crc


def decode_into(
    ref: BlockRef,
    body: bytes | memoryview,
    steps: np.ndarray,
    values: np.ndarray,
    walls: np.ndarray,
) -> None:
    """Decode a verified block straight into slices of preallocated columns (one copy)."""
    count = ref.count
    if ref.mode == 1:
        start, stride = _RANGE.unpack_from(body, 0)
        np.multiply(np.arange(count, dtype=np.int64), stride, out=steps)  # stride may be 0 or < 0
        steps += start
        vpos = _RANGE.size
    else:
        steps[:] = np.frombuffer(body, "<i8", count, 0)
        vpos = 8 * count
    values[:] = np.frombuffer(body, "<f8", count, vpos)
    walls[:] = np.frombuffer(body, "<f4", count, vpos + 8 * count)  # widen first, then add:
    walls += ref.base  # the base in float32 would lose whole seconds


@dataclass(frozen=True)
class RawRecord:
    kind: int
    offset: int  # of the payload in the file
    payload: memoryview  # the whole verified payload; empty for scalar records
    blocks: tuple[BlockRef, ...] = ()  # scalar records: their blocks at absolute file offsets


@dataclass
class WalkResult:
    records: list[RawRecord]
    end: int  # offset just past the last good record
    problem: str | None  # why the walk stopped early (torn tail or corruption), if it did


def _checked_part(flags: int, payload: memoryview) -> memoryview:
    if flags & BLOCK_CRC and len(payload) >= _SCALAR_HEAD.size:
        return payload[: min(len(payload), table_size(payload))]
    return payload


class _Window:
    """Reads a file through a small moving window, so that walking the headers of big records
    does not read their bodies."""

    SIZE = 64 * 1024

    def __init__(self, fh: BinaryIO, end: int) -> None:
        self.fh = fh
        self.end = end
        self.start = 0
        self.data = b""

    def get(self, offset: int, n: int) -> memoryview | None:
        if offset < self.start or offset + n > self.start + len(self.data):
            if offset + n > self.end:
                return None
            self.fh.seek(offset)
            self.data = self.fh.read(max(n, min(self.SIZE, self.end - offset)))
            self.start = offset
            if len(self.data) < n:
                return None
        lo = offset - self.start
        return memoryview(self.data)[lo : lo + n]


def walk_file(fh: BinaryIO, start: int, end: int) -> WalkResult:
    """Walk records of an open file from ``start`` to ``end`` without reading scalar bodies.

    Scalar records come back with their blocks placed at absolute file offsets (bodies are
    verified when read); other records with their verified payload.
    """
    window = _Window(fh, end)
    pos = start
    records: list[RawRecord] = []
    problem: str | None = None
    while pos < end:
        head = window.get(pos, HEADER_SIZE)
        if head is None:
            problem = f"incomplete record header at byte {pos}"
            break
        magic, kind, flags, length, crc = HEADER.unpack_from(head, 0)
        if magic != MAGIC:
            problem = f"bad record marker at byte {pos}"
            break
        body = pos + HEADER_SIZE
        if end - body < length:
            problem = f"incomplete record at byte {pos} ({end - body} of {length} bytes)"
            break
        if kind == KIND_SCALARS and flags & BLOCK_CRC:
            first = window.get(body, min(length, _SCALAR_HEAD.size))
            size = table_size(first) if first is not None and length >= _SCALAR_HEAD.size else 0
            table = window.get(body, size) if 0 < size <= length else None
            refs = scalar_table(table, length) if table is not None else "bad scalar table"
            if table is None or zlib.crc32(table) != crc or isinstance(refs, str):
                problem = f"checksum mismatch in record at byte {pos}"
                break
            placed = tuple(
                BlockRef(r.tag_id, r.count, r.mode, body + r.offset, r.length, r.crc, r.base)
                for r in refs
            )
            records.append(RawRecord(kind, body, memoryview(b""), placed))
        else:
            payload = window.get(body, length)
            if payload is None or zlib.crc32(_checked_part(flags, payload)) != crc:
                problem = f"checksum mismatch in record at byte {pos}"
                break
            records.append(RawRecord(kind, body, memoryview(bytes(payload))))
        pos = body + length
    return WalkResult(records, pos, problem)


def iter_json(records: list[RawRecord], kind: int) -> Iterator[Any]:
    for record in records:
        if record.kind == kind:
            yield json.loads(bytes(record.payload))
