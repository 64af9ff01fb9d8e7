"""Framing and encoding of the records in a run's append-only data file.

Every flush appends whole records; nothing is ever rewritten. A record is a fixed header followed
by a payload::

    magic  b"L2"   2 bytes
    kind   u8      TAGS | SCALARS | TEXT | MEDIA | ARTIFACT
    flags  u8      BLOCK_CRC for scalar records (see below), else 0
    length u32     payload bytes
    crc32  u32     zlib.crc32 of the payload (of the block table only, with BLOCK_CRC)
    hcrc   u32     zlib.crc32 of the 12 header bytes before it

Files written before the header checksum existed hold records with magic ``b"LT"`` and a
12-byte header without ``hcrc``; they are still read, never written.

Because the header is checksummed, a reader tells three things apart:

* a **torn tail**: the file ends inside a record whose header verifies (or inside the first
  16 bytes of one): a writer killed mid-write, or a write in progress. Not an error: the bytes
  are read again next time, and only such a tail is ever truncated (when a run is resumed).
* a **damaged record**: its header verifies but its payload does not match its checksum. Its
  ``length`` is trustworthy, so the reader skips exactly that record and goes on.
* **damaged bytes**: a header that does not verify. The reader resynchronises on the next
  position holding a record whose header *and* payload verify, and reports the skipped range.

Damage is reported (:attr:`WalkResult.problems`), never raised, and never mistaken for a torn
tail. Everything a reader returns passed a checksum.

Scalar payloads are columns, one block per tag, so reading a tag is a few ``numpy.frombuffer``
calls. Writing them needs no numpy (the standard library's ``array`` packs the columns about as
fast as numpy converts the writer's lists), so that starting a run does not pay numpy's import. Per point they cost 8 bytes of value, 4 bytes of wall-time offset (float32 seconds from the
record's base time, about 1 µs resolution over a 10 s span) and either nothing for the step (the
common case of evenly spaced steps, stored as start and stride) or 8 bytes. A scalar record has
flag ``BLOCK_CRC``: its header checksum covers only the block table, and each block carries its
own checksum, so a reader of one tag reads and verifies that tag's bytes and skips the others::

    base_wall f64 | n_blocks u32 | reserved u32
    table: n_blocks x (tag_id u32 | count u32 | mode u8 | pad[3] | body_len u32 | body_crc u32)
    bodies, in table order: steps | values f64[count] | walls
    steps: mode bit 1 set -> start i64, stride i64; else i64[count]
    walls: mode bit 2 set -> f64[count] whole times (a span over 16 s: imports, replays);
           else dwall f32[count], offsets from base_wall

Text, media and artifact payloads are JSON: they are rare and can afford it.
"""

from __future__ import annotations

import json
import math
import struct
import sys
import zlib
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

if TYPE_CHECKING:  # numpy is imported where blocks are decoded, never to write them
    import numpy as np

MAGIC = b"L2"
HEADER = struct.Struct("<2sBBIII")
HEADER_SIZE = HEADER.size
OLD_MAGIC = b"LT"  # records of files written before the header checksum: read, never written
OLD_HEADER = struct.Struct("<2sBBII")
_HEAD_CHECKED = struct.Struct("<2sBBII")  # the part of HEADER that hcrc covers

KIND_TAGS = 1
KIND_SCALARS = 2
KIND_TEXT = 3
KIND_MEDIA = 4
KIND_ARTIFACT = 5

KINDS = frozenset({KIND_TAGS, KIND_SCALARS, KIND_TEXT, KIND_MEDIA, KIND_ARTIFACT})

BLOCK_CRC = 1
_SCALAR_HEAD = struct.Struct("<dII")
_TABLE_ENTRY = struct.Struct("<IIB3xII")
_RANGE = struct.Struct("<qq")
STEPS_RANGE = 1  # step mode bit: steps stored as start and stride
WALL_F64 = 2  # step mode bit: wall times stored whole as float64, not as float32 offsets
_F32_SPAN = 16.0


def frame(kind: int, payload: bytes, flags: int = 0, checked: int | None = None) -> bytes:
    """One whole record: header + payload; the first ``checked`` payload bytes are checksummed
    (all of them by default)."""
    crc = crc32(payload if checked is None else memoryview(payload)[:checked])  # type: ignore[arg-type]
    head = _HEAD_CHECKED.pack(MAGIC, kind, flags, len(payload), crc)
    return head + zlib.crc32(head).to_bytes(4, "little") + payload


def frame_json(kind: int, obj: Any) -> bytes:
    return frame(kind, json.dumps(obj, separators=(",", ":"), allow_nan=True).encode())


class ScalarBlock(NamedTuple):
    """One tag's points inside one scalar record."""

    tag_id: int
    steps: np.ndarray  # int64
    values: np.ndarray  # float64
    wall_times: np.ndarray  # float64


class BlockRef:
    """Where one tag's block sits: ``offset`` is relative to the payload start, or absolute in
    the file once a walker has placed it. (A plain class: a named tuple's ``count`` would
    clash with ``tuple.count``.)"""

    __slots__ = ("base", "count", "crc", "length", "mode", "offset", "tag_id")

    def __init__(
        self, tag_id: int, count: int, mode: int, offset: int, length: int, crc: int, base: float
    ) -> None:
        self.tag_id = tag_id
        self.count = count
        self.mode = mode
        self.offset = offset
        self.length = length
        self.crc = crc
        self.base = base

    def __repr__(self) -> str:
        return (
            f"BlockRef(tag_id={self.tag_id}, count={self.count}, mode={self.mode}, "
            f"offset={self.offset}, length={self.length})"
        )


#: A column of :func:`frame_scalars`: a list of Python ints or floats (what the writer
#: buffers), or a numpy array (what ``log_points`` is given: packed by numpy, which is loaded).
Column = Any

#: One tag's points for :func:`frame_scalars`: tag id, steps, values, wall times.
Block = tuple[int, Column, Column, Column]


def frame_scalars(blocks: list[Block]) -> bytes:
    """A whole scalar record of ``(tag_id, steps, values, wall_times)`` blocks (see
    :data:`Column`; the columns of one block are equally long).

    Blocks may share their ``steps`` and ``wall_times`` columns (the tags of one ``log()`` call
    do): shared columns are encoded once. The work is done with as few calls that release the
    GIL as possible, because each release costs the writer a wait of up to the interpreter's
    switch interval (5 ms) for a training loop that holds the GIL, and that wait is what bounds
    how soon logged points are on disk.
    """
    base = float(min((w[0] for _, _, _, w in blocks if len(w)), default=0.0))
    table = [_SCALAR_HEAD.pack(base, len(blocks), 0)]
    bodies = []
    encoded: dict[int, tuple[int, bytes]] = {}  # id(column) -> (step mode, bytes)
    for tag_id, steps, values, walls in blocks:
        count = len(values)
        mode, step_bytes = encoded.get(id(steps)) or encoded.setdefault(
            id(steps), _encode_steps(steps)
        )
        wall_mode, wall_bytes = encoded.get(id(walls)) or encoded.setdefault(
            id(walls), _encode_walls(walls, base)
        )
        body = b"".join((step_bytes, _packed("d", values), wall_bytes))
        entry = _TABLE_ENTRY.pack(tag_id, count, mode | wall_mode, len(body), crc32(body))
        table.append(entry)
        bodies.append(body)
    head = b"".join(table)
    return frame(KIND_SCALARS, head + b"".join(bodies), flags=BLOCK_CRC, checked=len(head))


def _packed(code: str, column: Column) -> bytes:
    """``column`` as little-endian machine values (``"q"`` int64, ``"d"`` float64, ``"f"``
    float32, rounded to nearest as numpy does)."""
    if hasattr(column, "dtype"):
        return bytes(column.astype(_NUMPY_CODES[code], copy=False).tobytes())
    packed = array(code, column)
    if _BIG_ENDIAN:
        packed.byteswap()
    return packed.tobytes()


_BIG_ENDIAN = sys.byteorder == "big"
_NUMPY_CODES = {"q": "<i8", "d": "<f8", "f": "<f4"}


def _encode_steps(steps: Column) -> tuple[int, bytes]:
    """(1, start+stride) for evenly spaced steps, else (0, every step); checked on Python ints,
    which holds the GIL (see :func:`frame_scalars`)."""
    count = len(steps)
    if count == 1:
        return 1, _RANGE.pack(int(steps[0]), 1)
    listed = steps if isinstance(steps, list) else steps.tolist()
    start, stride = listed[0], listed[1] - listed[0]
    if stride != 0:
        evenly = listed == list(range(start, start + stride * count, stride))
    else:
        evenly = listed.count(start) == count
    if evenly:
        return 1, _RANGE.pack(start, stride)
    return 0, _packed("q", steps)


def _encode_walls(walls: Column, base: float) -> tuple[int, bytes]:
    """(0, float32 offsets from ``base``) when they keep about a microsecond (a span of at most
    16 s: every live flush), else (WALL_F64, the float64 times: imported or replayed points)."""
    if hasattr(walls, "dtype"):
        offsets = walls - base  # in float64: float32 would lose seconds
        if len(offsets) and not 0.0 <= float(offsets.max()) <= _F32_SPAN:
            return WALL_F64, _packed("d", walls)
        return 0, _packed("f", offsets)
    if len(walls) and not 0.0 <= max(walls) - base <= _F32_SPAN:
        return WALL_F64, _packed("d", walls)
    # In float64 first (float32 would lose seconds), and by ``map``: a loop of bytecode would let
    # a training loop take the GIL from the persisting thread every switch interval.
    return 0, _packed("f", list(map(base.__rsub__, walls)))


def bounds(values: Column) -> tuple[float, float]:
    """(min, max) of ``values`` ignoring NaN (NaN, NaN when all are NaN), as ``numpy.fmin``."""
    if hasattr(values, "dtype"):
        import numpy as np

        return float(np.fmin.reduce(values)), float(np.fmax.reduce(values))
    if any(map(math.isnan, values)):
        values = [v for v in values if not math.isnan(v)]
        if not values:
            return math.nan, math.nan
    return min(values), max(values)


_CRC_PIECE = 4096  # zlib releases the GIL for buffers over 5 KiB; pieces below that keep it


def crc32(data: bytes) -> int:
    """zlib.crc32 of ``data``, computed in pieces that do not release the GIL."""
    if len(data) <= _CRC_PIECE:
        return zlib.crc32(data)
    view = memoryview(data)
    crc = 0
    for start in range(0, len(view), _CRC_PIECE):
        crc = zlib.crc32(view[start : start + _CRC_PIECE], crc)
    return crc


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
        if body_len != _body_size(count, mode):
            return "scalar record table entry does not match its block"
        refs.append(BlockRef(tag_id, count, mode, pos, body_len, crc, base))
        pos += body_len
    if pos != length:
        return "scalar record blocks do not add up to its length"
    return refs


def _body_size(count: int, mode: int) -> int:
    steps = _RANGE.size if mode & STEPS_RANGE else 8 * count
    return steps + 8 * count + (8 if mode & WALL_F64 else 4) * count


def decode_block(ref: BlockRef, body: bytes | memoryview) -> ScalarBlock | None:
    """The points of one block in new arrays, or None when its bytes do not match its checksum."""
    if not block_ok(ref, body):
        return None
    import numpy as np

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
    import numpy as np

    count = ref.count
    if ref.mode & STEPS_RANGE:
        start, stride = _RANGE.unpack_from(body, 0)
        np.multiply(np.arange(count, dtype=np.int64), stride, out=steps)  # stride may be 0 or < 0
        steps += start
        vpos = _RANGE.size
    else:
        steps[:] = np.frombuffer(body, "<i8", count, 0)
        vpos = 8 * count
    values[:] = np.frombuffer(body, "<f8", count, vpos)
    if ref.mode & WALL_F64:
        walls[:] = np.frombuffer(body, "<f8", count, vpos + 8 * count)
        return
    walls[:] = np.frombuffer(body, "<f4", count, vpos + 8 * count)  # widen first, then add:
    walls += ref.base  # the base in float32 would lose whole seconds


class RawRecord(NamedTuple):
    kind: int
    offset: int  # of the payload in the file
    payload: memoryview  # the whole verified payload; empty for scalar records
    blocks: tuple[BlockRef, ...] = ()  # scalar records: their blocks at absolute file offsets


class WalkResult:
    """What a walk found: the verified records, and how the walked range ended.

    ``end`` is where the next walk continues: the end of the range, or the start of a torn tail
    (read again next time), or of damaged bytes that nothing verifiable follows (a writer may
    still append records after them). ``torn`` says that ``end`` starts a torn tail, the only
    bytes a resumed writer may truncate. ``problems`` describe damage, one line each.
    """

    __slots__ = ("end", "problems", "records", "torn")

    def __init__(
        self,
        records: list[RawRecord],
        end: int,
        torn: bool = False,
        problems: list[str] | None = None,
    ) -> None:
        self.records = records
        self.end = end
        self.torn = torn
        self.problems: list[str] = [] if problems is None else problems

    def __repr__(self) -> str:
        return (
            f"WalkResult({len(self.records)} records, end={self.end}, torn={self.torn}, "
            f"problems={self.problems!r})"
        )

    @property
    def problem(self) -> str | None:
        return self.problems[0] if self.problems else None


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

    def find(self, needles: tuple[bytes, ...], offset: int) -> int:
        """The first offset >= ``offset`` where one of ``needles`` (2 bytes each) starts, or -1."""
        pos = offset
        while pos < self.end - 1:
            chunk = self.get(pos, min(self.SIZE, self.end - pos))
            if chunk is None:
                return -1
            data = bytes(chunk)
            hits = [i for i in (data.find(n) for n in needles) if i >= 0]
            if hits:
                return pos + min(hits)
            pos += max(1, len(data) - 1)  # a needle may straddle two chunks
        return -1


class _Header(NamedTuple):
    kind: int
    flags: int
    length: int
    crc: int
    size: int  # header bytes: HEADER_SIZE, or OLD_HEADER.size for old records


_TORN = "torn"


def _header_at(window: _Window, pos: int) -> _Header | str | None:
    """The verified header at ``pos``; ``"torn"`` when the range ends inside it; None when the
    bytes there are not a header."""
    remaining = window.end - pos
    first = window.get(pos, min(2, remaining))
    if first is None:
        return None
    magic = bytes(first)
    if remaining < 2:
        return _TORN if MAGIC.startswith(magic) or OLD_MAGIC.startswith(magic) else None
    if magic == MAGIC:
        head = window.get(pos, HEADER_SIZE)
        if head is None:
            return _TORN
        _, kind, flags, length, crc, hcrc = HEADER.unpack_from(head, 0)
        if zlib.crc32(head[: _HEAD_CHECKED.size]) != hcrc or kind not in KINDS:
            return None
        return _Header(kind, flags, length, crc, HEADER_SIZE)
    if magic == OLD_MAGIC:
        head = window.get(pos, OLD_HEADER.size)
        if head is None:
            return _TORN
        _, kind, flags, length, crc = OLD_HEADER.unpack_from(head, 0)
        if kind not in KINDS:
            return None
        return _Header(kind, flags, length, crc, OLD_HEADER.size)
    return None


def _read_record(window: _Window, pos: int, head: _Header) -> RawRecord | None:
    """The record whose verified header is at ``pos``, or None when its payload (or, for a
    scalar record, its block table) does not match the checksum. The payload must fit."""
    body = pos + head.size
    length = head.length
    if head.kind == KIND_SCALARS and head.flags & BLOCK_CRC:
        first = window.get(body, min(length, _SCALAR_HEAD.size))
        size = table_size(first) if first is not None and length >= _SCALAR_HEAD.size else 0
        table = window.get(body, size) if 0 < size <= length else None
        if table is None or zlib.crc32(table) != head.crc:
            return None
        refs = scalar_table(table, length)
        if isinstance(refs, str):
            return None
        placed = tuple(
            BlockRef(r.tag_id, r.count, r.mode, body + r.offset, r.length, r.crc, r.base)
            for r in refs
        )
        return RawRecord(head.kind, body, memoryview(b""), placed)
    payload = window.get(body, length)
    if payload is None or zlib.crc32(_checked_part(head.flags, payload)) != head.crc:
        return None
    return RawRecord(head.kind, body, memoryview(bytes(payload)))


def _resync(window: _Window, pos: int) -> tuple[int, _Header | str] | None:
    """The next position after ``pos`` where a record verifies (header and payload) or a torn
    tail with a verified header starts, with what is there; None when there is none."""
    at = pos + 1
    while True:
        at = window.find((MAGIC, OLD_MAGIC), at)
        if at < 0:
            return None
        head = _header_at(window, at)
        if (
            head == _TORN
            and window.end - at < HEADER_SIZE
            and bytes(window.get(at, 2) or b"") == MAGIC
        ):
            return at, _TORN
        if isinstance(head, _Header):
            fits = window.end - (at + head.size) >= head.length
            if not fits and head.size == HEADER_SIZE:
                return at, _TORN  # a verified header whose record the range cuts off
            if fits and _read_record(window, at, head) is not None:
                return at, head
        at += 1


def walk_file(fh: BinaryIO, start: int, end: int) -> WalkResult:
    """Walk records of an open file from ``start`` to ``end`` without reading scalar bodies.

    Scalar records come back with their blocks placed at absolute file offsets (bodies are
    verified when read); other records with their verified payload. Damage is skipped and
    described in the result's ``problems``; see the module docstring.
    """
    window = _Window(fh, end)
    result = WalkResult([], start)
    pos = start
    while pos < end:
        head = _header_at(window, pos)
        if head == _TORN:
            return _torn(result, pos)
        if isinstance(head, _Header):
            if end - (pos + head.size) < head.length:
                if head.size == HEADER_SIZE or _resync(window, pos) is None:
                    return _torn(result, pos)  # the range ends inside this record
            else:
                record = _read_record(window, pos, head)
                if record is not None:
                    result.records.append(record)
                    pos = record.offset + head.length
                    continue
                if head.size == HEADER_SIZE:  # verified header: skip exactly this record
                    result.problems.append(
                        f"checksum mismatch in record at byte {pos}: its {head.length} byte(s) "
                        "are left out"
                    )
                    pos += head.size + head.length
                    continue
        found = _resync(window, pos)
        if found is None:
            result.problems.append(
                f"damaged bytes from byte {pos} to {end} ({end - pos} byte(s)): no valid "
                "record after them"
            )
            result.end = pos
            return result
        nxt, what = found
        result.problems.append(
            f"damaged bytes from byte {pos} to {nxt} ({nxt - pos} byte(s) skipped, no valid "
            "record header there)"
        )
        if what == _TORN:
            return _torn(result, nxt)
        pos = nxt
    result.end = pos
    return result


def _torn(result: WalkResult, pos: int) -> WalkResult:
    result.end = pos
    result.torn = True
    return result


class BadRecord(ValueError):
    """A record that passed its checksum but does not hold what its kind promises (crafted, or
    written by a buggy writer): readers leave it out and report it."""


def _json(record: RawRecord) -> Any:
    try:
        return json.loads(bytes(record.payload))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRecord(f"not JSON: {exc}") from None


def _is_step(value: Any) -> bool:
    return type(value) is int and 0 <= value < 2**63


def _is_time(value: Any) -> bool:
    return type(value) in (int, float)


def parse_tags(record: RawRecord) -> Iterator[tuple[int, str]]:
    """``(tag id, tag)`` pairs of a tag-table record (nothing for other kinds)."""
    if record.kind != KIND_TAGS:
        return
    table = _json(record)
    if not isinstance(table, list):
        raise BadRecord("tag table is not a list")
    for item in table:
        if not (isinstance(item, list) and len(item) == 2 and _is_step(item[0])):
            raise BadRecord(f"bad tag table entry {item!r:.80}")
        if not isinstance(item[1], str) or item[0] >= 2**32:
            raise BadRecord(f"bad tag table entry {item!r:.80}")
        yield item[0], item[1]


def parse_text(record: RawRecord) -> Iterator[tuple[str, int, float, str]]:
    """``(tag, step, wall time, text)`` of a text record (nothing for other kinds)."""
    if record.kind != KIND_TEXT:
        return
    entries = _json(record)
    if not isinstance(entries, list):
        raise BadRecord("text record is not a list")
    for item in entries:
        ok = isinstance(item, list) and len(item) == 4
        if not ok or not (isinstance(item[0], str) and _is_step(item[1])):
            raise BadRecord(f"bad text entry {item!r:.80}")
        if not (_is_time(item[2]) and isinstance(item[3], str)):
            raise BadRecord(f"bad text entry {item!r:.80}")
        yield item[0], item[1], float(item[2]), item[3]


def parse_text_steps(record: RawRecord) -> Iterator[tuple[str, int]]:
    for tag, step, _wall, _text in parse_text(record):
        yield tag, step


_ITEM_FIELDS: dict[int, dict[str, tuple[type, ...]]] = {
    KIND_MEDIA: {"kind": (str,), "tag": (str,), "step": (int,), "wall": (int, float)},
    KIND_ARTIFACT: {"name": (str,), "kind": (str,), "path": (str,), "size": (int,)},
}


def parse_item(record: RawRecord, kind: int) -> dict[str, Any] | None:
    """The JSON object of a media or artifact record of ``kind`` (None for other records),
    with its required fields checked."""
    if record.kind != kind:
        return None
    item = _json(record)
    if not isinstance(item, dict):
        raise BadRecord("record is not a JSON object")
    for key, types in _ITEM_FIELDS[kind].items():
        value = item.get(key)
        if type(value) not in types or (key == "step" and not _is_step(value)):
            raise BadRecord(f"field {key!r} holds {value!r:.60}")
    return item


def parse_media_step(record: RawRecord) -> Iterator[tuple[str, str, int]]:
    item = parse_item(record, KIND_MEDIA)
    if item is not None:
        yield item["kind"], item["tag"], item["step"]


def iter_json(records: list[RawRecord], kind: int) -> Iterator[Any]:
    for record in records:
        if record.kind == kind:
            yield json.loads(bytes(record.payload))
