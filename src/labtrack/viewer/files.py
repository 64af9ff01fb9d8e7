"""Safe resolution of user-supplied file paths to files inside the viewed directory.

Every file route goes through :func:`resolve_inside`. It refuses, before touching the disk:
empty paths, NUL bytes, backslashes, absolute paths (``/etc/passwd``, ``C:...``), any ``..``
component, and the same after one more round of percent-decoding (double-encoded traversal such
as ``%252e%252e%252f``, which the server decodes once to ``%2e%2e%2f``). Then it resolves
symlinks and refuses any file whose real path is outside the real root (a symlink that leaves
DIR). Only regular files are served.

Paths named by a run's own records (figure, image and artifact files) are data from the store,
which may have been copied from anyone: :func:`inside_run` accepts one only when it resolves,
symlinks included, to a regular file inside that run's directory. Anything else (``/etc/passwd``,
``../../secret``, another run's files, a symlink leaving the run) is treated as absent: no URL is
made for it and it is never read.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import unquote


class PathRefused(Exception):
    """A requested path is not allowed; the message says why (never echoed with file content)."""


def _check_text(rel: str) -> None:
    if not rel:
        raise PathRefused("empty path")
    if "\0" in rel:
        raise PathRefused("NUL byte in path")
    if "\\" in rel:
        raise PathRefused("backslash in path")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise PathRefused("absolute path")
    if any(part == ".." for part in PurePosixPath(rel).parts):
        raise PathRefused("'..' in path")


def resolve_inside(root: Path, rel: str) -> Path:
    """The real path of file ``rel`` (relative, '/'-separated) inside ``root``.

    Raises:
        PathRefused: the path is not allowed (traversal, absolute, leaves root by a symlink).
        FileNotFoundError: the path is allowed but no such regular file exists.
    """
    _check_text(rel)
    _check_text(unquote(rel))
    real_root = root.resolve()
    candidate = real_root / rel
    try:
        real = candidate.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(rel) from None
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise PathRefused(f"cannot resolve path: {exc.__class__.__name__}") from None
    if real != real_root and real_root not in real.parents:
        raise PathRefused("path leaves the viewed directory")
    if not real.is_file():
        raise FileNotFoundError(rel)
    return real


def relative_to_root(root: Path, path: Path) -> str | None:
    """``path`` relative to ``root`` as a '/'-separated string, or None when it is outside."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def inside_run(run_dir: Path, path: str | Path | None) -> Path | None:
    """The real path of ``path`` (named by one of the run's records, relative to ``run_dir``
    or absolute) when it is a regular file inside ``run_dir``; None for anything else."""
    if path is None:
        return None
    try:
        real_run = run_dir.resolve()
        real = (run_dir / path).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, a NUL byte
        return None
    if real_run not in real.parents or not real.is_file():
        return None
    return real
