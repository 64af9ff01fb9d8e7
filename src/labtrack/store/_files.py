"""Small file helpers of the writer: names safe on every file system, atomic copies."""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import quote


def safe_name(tag: str) -> str:
    """A file-name-safe, reversible form of a tag (``train/loss`` -> ``train%2Floss``)."""
    name = quote(tag, safe="")
    return "%2E" + name[1:] if name.startswith(".") else name


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)  # a half-written file must not keep the space a full disk lacks
        raise


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def is_inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def copy_hashing(source: Path, dest: Path | None) -> tuple[int, str]:
    """Copy ``source`` to ``dest`` atomically (or only hash it) in one pass; (size, sha256)."""
    import hashlib

    digest = hashlib.sha256()
    size = 0
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp") if dest is not None else None
    try:
        with open(source, "rb") as src, open(tmp, "wb") if tmp else io.BytesIO() as out:
            while block := src.read(1 << 20):
                digest.update(block)
                size += len(block)
                if tmp is not None:
                    out.write(block)
        if tmp is not None and dest is not None:
            os.replace(tmp, dest)
    except BaseException:
        if tmp is not None:
            _discard(tmp)
        raise
    return size, digest.hexdigest()
