"""Framing and encoding of the records in a run's append-only data file.

Every flush appends whole records; nothing is ever rewritten. A record is a fixed header followed
by a payload::

    magic  b"LT"   2 bytes
    kind   u8      TAGS | SCALARS | TEXT | MEDIA | ARTIFACT
    flags  u8      reserved (0)
    length u32     payload bytes
    crc32  u32     zlib.crc32 of the payload

A reader walks records from the start and stops quietly at the first one that is incomplete or
whose checksum does not match: that is a torn tail left by a killed writer, never an error.

Scalar payloads are columns, one block per tag, so reading a tag is a few ``numpy.frombuffer``
calls. Per point they cost 8 bytes of value, 4 bytes of wall-time offset (float32 seconds from the
record's base time, about 1 µs resolution over a 10 s span) and either nothing for the step (the
common case of evenly spaced steps, stored as start and stride) or 8 bytes::

    base_wall f64 | n_blocks u32 | blocks...
    block: tag_id u32 | count u32 | step_mode u8 | pad[7] | steps | values f64[count] | dwall f32[count] | pad
    steps: step_mode 1 -> start i64, stride i64; step_mode 0 -> i64[count]

Text, media and artifact payloads are JSON: they are rare and can afford it.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

MAGIC = b"LT"
HEADER = struct.Struct("<2sBBII")
HEADER_SIZE = HEADER.size

KIND_TAGS = 1
KIND_SCALARS = 2
KIND_TEXT = 3
KIND_MEDIA = 4
KIND_ARTIFACT = 5
KNOWN_KINDS = {KIND_TAGS, KIND_SCALARS, KIND_TEXT, KIND_MEDIA, KIND_ARTIFACT}

_SCALAR_HEAD = struct.Struct("<dI")
_BLOCK_HEAD = struct.Struct("<IIB7x")
_RANGE = struct.Struct("<qq")


def frame(kind: int, payload: bytes) -> bytes:
    """One whole record: header + payload."""
    return HEADER.pack(MAGIC, kind, 0, len(payload), zlib.crc32(payload)) + payload


def frame_json(kind: int, obj: Any) -> bytes:
    return frame(kind, json.dumps(obj, separators=(",", ":"), allow_nan=True).encode())


@dataclass(frozen=True)
class ScalarBlock:
    """One tag's points inside one scalar record."""

    tag_id: int
    steps: np.ndarray  # int64
    values: np.ndarray  # float64
    wall_times: np.ndarray  # float64


def encode_scalars(blocks: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]) -> bytes:
    """Encode ``(tag_id, steps int64, values float64, wall_times float64)`` blocks as one payload."""
    base = min(float(w[0]) for _, _, _, w in blocks if len(w)) if blocks else 0.0
    parts = [_SCALAR_HEAD.pack(base, len(blocks))]
    for tag_id, steps, values, walls in blocks:
        count = len(values)
        diffs = np.diff(steps) if count > 1 else None
        evenly = count == 1 or (diffs is not None and bool((diffs == diffs[0]).all()))
        parts.append(_BLOCK_HEAD.pack(tag_id, count, 1 if evenly else 0))
        if evenly:
            stride = int(diffs[0]) if diffs is not None else 1
            parts.append(_RANGE.pack(int(steps[0]), stride))
        else:
            parts.append(steps.astype("<i8", copy=False).tobytes())
        parts.append(values.astype("<f8", copy=False).tobytes())
        dwall = (walls - base).astype("<f4")
        parts.append(dwall.tobytes())
        if count % 2:
            parts.append(b"\0\0\0\0")  # keep every block 8-byte aligned
    return b"".join(parts)


def decode_scalars(payload: bytes | memoryview, wanted: int | None = None) -> list[ScalarBlock]:
    """Decode a scalar payload; with ``wanted`` only that tag's block is materialised."""
    buf = memoryview(payload)
    base, n_blocks = _SCALAR_HEAD.unpack_from(buf, 0)
    pos = _SCALAR_HEAD.size
    out: list[ScalarBlock] = []
    for _ in range(n_blocks):
        tag_id, count, mode = _BLOCK_HEAD.unpack_from(buf, pos)
        pos += _BLOCK_HEAD.size
        step_bytes = _RANGE.size if mode == 1 else 8 * count
        size = step_bytes + 12 * count + (4 if count % 2 else 0)
        if wanted is None or tag_id == wanted:
            if mode == 1:
                start, stride = _RANGE.unpack_from(buf, pos)
                steps = start + stride * np.arange(count, dtype=np.int64)
            else:
                steps = np.frombuffer(buf, "<i8", count, pos).astype(np.int64)
            vpos = pos + step_bytes
            values = np.frombuffer(buf, "<f8", count, vpos).astype(np.float64)
            dwall = np.frombuffer(buf, "<f4", count, vpos + 8 * count)
            out.append(ScalarBlock(tag_id, steps, values, base + dwall.astype(np.float64)))
        pos += size
    return out


def scalar_tag_ids(payload: bytes | memoryview) -> list[int]:
    """The tag ids present in a scalar payload, without decoding the columns."""
    buf = memoryview(payload)
    _, n_blocks = _SCALAR_HEAD.unpack_from(buf, 0)
    pos = _SCALAR_HEAD.size
    ids = []
    for _ in range(n_blocks):
        tag_id, count, mode = _BLOCK_HEAD.unpack_from(buf, pos)
        ids.append(tag_id)
        step_bytes = _RANGE.size if mode == 1 else 8 * count
        pos += _BLOCK_HEAD.size + step_bytes + 12 * count + (4 if count % 2 else 0)
    return ids


@dataclass(frozen=True)
class RawRecord:
    kind: int
    offset: int  # of the payload within the file
    payload: memoryview


@dataclass
class WalkResult:
    records: list[RawRecord]
    end: int  # offset just past the last good record
    problem: str | None  # why the walk stopped early (torn tail or corruption), if it did


def walk(data: bytes | memoryview, start: int = 0) -> WalkResult:
    """Split ``data[start:]`` into good records, stopping at the first bad or incomplete one."""
    buf = memoryview(data)
    size = len(buf)
    pos = start
    records: list[RawRecord] = []
    problem: str | None = None
    while pos < size:
        if size - pos < HEADER_SIZE:
            problem = f"incomplete record header at byte {pos}"
            break
        magic, kind, _flags, length, crc = HEADER.unpack_from(buf, pos)
        if magic != MAGIC:
            problem = f"bad record marker at byte {pos}"
            break
        body = pos + HEADER_SIZE
        if size - body < length:
            problem = f"incomplete record at byte {pos} ({size - body} of {length} bytes)"
            break
        payload = buf[body : body + length]
        if zlib.crc32(payload) != crc:
            problem = f"checksum mismatch in record at byte {pos}"
            break
        records.append(RawRecord(kind, body, payload))
        pos = body + length
    return WalkResult(records, pos, problem)


def iter_json(records: list[RawRecord], kind: int) -> Iterator[Any]:
    for rec in records:
        if rec.kind == kind:
            yield json.loads(bytes(rec.payload))
