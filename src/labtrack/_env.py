"""Names of the environment variables labtrack reads, in one place.

They are read inside functions only, never at import time, so setting one after
``import labtrack`` still takes effect.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Default store directory for ``start_run``, ``Store`` and the CLI (default ``./out``).
LABTRACK_DIR = "LABTRACK_DIR"
#: Token the viewer requires on every request when set.
LABTRACK_TOKEN = "LABTRACK_TOKEN"

DEFAULT_STORE_DIR = "out"


def default_store_dir() -> Path:
    """The store directory used when none is given: ``$LABTRACK_DIR`` or ``./out``."""
    return Path(os.environ.get(LABTRACK_DIR) or DEFAULT_STORE_DIR)
