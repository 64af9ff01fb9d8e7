"""Sending the files a task left in a run directory to the store's node.

A run's own records travel as they are logged; the other files of a run directory (a runner
config's ``result.pkl``, captured output, whatever the config wrote under ``config.out``, a
tracker's checkpoints) are written to this node's disk by ordinary code. :func:`send_folder`
sends them, each file whole and in chunks, and waits until the store's node has them;
:func:`fetch_folder` brings them to a node that has not got them (a tracker resumed elsewhere).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..store._meta import META_DIR
from ._remote import CLOSE_TIMEOUT, RemoteOutput, send_file
from ._route import output_for


def send_folder(folder: str | Path, *, skip_meta: bool = True) -> int:
    """Send every file under ``folder`` (a run directory written on this node) to the store
    that holds that path on its own node; returns how many were sent (0 when the store is on
    this node, or no store is served on the Ray cluster). ``.labtrack/`` is the writer's and is
    left out unless ``skip_meta=False``. Raises ``OSError`` when the store's node did not
    acknowledge them within ``CLOSE_TIMEOUT`` seconds."""
    root = Path(folder).absolute()
    output = output_for(root)
    if not isinstance(output, RemoteOutput):
        return 0
    files = [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not (skip_meta and p.relative_to(root).parts[0] == META_DIR)
    ]
    for path in files:
        send_file(output.log, str(root), path, str(path.relative_to(root)))
    output.log.settle(CLOSE_TIMEOUT)
    if output.log.ops:
        raise OSError(
            f"the store's node did not acknowledge {len(output.log.ops)} file(s) of {root} "
            f"within {CLOSE_TIMEOUT:.0f} s ({output.log.last_error or 'no answer'})"
        )
    return len(files)


def fetch_folder(folder: str | Path, *, also: Sequence[str] = ()) -> int:
    """Copy every file of run directory ``folder`` (outside ``.labtrack/``, plus the relative
    paths in ``also`` where they exist) from the store's node to the same path on this node,
    replacing what is there; returns how many were copied (0 when the store is on this node,
    or not served on the Ray cluster)."""
    import ray

    root = Path(folder).absolute()
    output = output_for(root)
    if not isinstance(output, RemoteOutput):
        return 0
    actor = output.actor
    copied = 0
    listed = ray.get(actor.files.remote(str(root)), timeout=CLOSE_TIMEOUT)
    for relative in [*listed, *also]:
        try:
            chunks = ray.get(actor.read_file.remote(str(root), relative), timeout=CLOSE_TIMEOUT)
        except ray.exceptions.RayTaskError as exc:
            if relative in also and isinstance(exc.cause, FileNotFoundError):
                continue  # an optional file that is not there
            raise
        dest = root / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.part-{os.getpid()}")
        with open(partial, "wb") as fh:
            for chunk in chunks:
                fh.write(ray.get(chunk, timeout=CLOSE_TIMEOUT))
        os.replace(partial, dest)
        copied += 1
    return copied
