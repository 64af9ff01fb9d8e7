"""The store: where run data lives, how it is written, and how it is read.

Owns the run-directory format (``.labtrack/meta.json`` + the append-only ``data.ltr``), the one
writer of a run (:class:`RunWriter`), the reader (:class:`RunView`), and :class:`Store`, the
query API over a folder of runs with its rebuildable catalog.

May import: the standard library, numpy, and ``labtrack.errors`` / ``labtrack._env`` (leaf
modules). Nothing else of ours: every other package depends on this one, never the reverse.

Modules: ``_records`` (the data file's framing and columns), ``_meta`` (the metadata file and
liveness), ``_claim`` (creating or taking over a run directory), ``_writer`` (buffers and the
background persister), ``_summary``, ``_values`` (validation), ``_media`` and ``_files`` (files
beside the data), ``_reader`` (``RunView``), ``_store`` (``Store`` and its catalog).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._claim import new_run_id
    from ._mediawriter import ARTIFACT_KINDS
    from ._meta import STATUSES, is_run_dir, wait_for_writer
    from ._reader import (
        ArtifactEntry,
        MediaEntry,
        RunError,
        RunView,
        Scalars,
        TextEntry,
        open_run,
    )
    from ._store import Store, find_run_dirs
    from ._values import check_tag
    from ._writer import RunWriter

#: Where each public name lives. Loaded on first use, so that writing a run loads neither the
#: reader nor the catalog (nor numpy, which only reading needs).
_HOMES = {
    "ARTIFACT_KINDS": "_mediawriter",
    "STATUSES": "_meta",
    "ArtifactEntry": "_reader",
    "MediaEntry": "_reader",
    "RunError": "_reader",
    "RunView": "_reader",
    "RunWriter": "_writer",
    "Scalars": "_reader",
    "Store": "_store",
    "TextEntry": "_reader",
    "check_tag": "_values",
    "find_run_dirs": "_store",
    "is_run_dir": "_meta",
    "new_run_id": "_claim",
    "open_run": "_reader",
    "wait_for_writer": "_meta",
}

__all__ = [
    "ARTIFACT_KINDS",
    "STATUSES",
    "ArtifactEntry",
    "MediaEntry",
    "RunError",
    "RunView",
    "RunWriter",
    "Scalars",
    "Store",
    "TextEntry",
    "check_tag",
    "find_run_dirs",
    "is_run_dir",
    "new_run_id",
    "open_run",
    "wait_for_writer",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
