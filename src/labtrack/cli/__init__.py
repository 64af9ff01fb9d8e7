"""The ``labtrack`` command line: ls, show, export, demo, ui.

Owns argument parsing and terminal output (rich). May import ``labtrack.store`` and, inside
commands only, the packages a command needs (the viewer for ``ui``).
"""

from __future__ import annotations

from ._main import main

__all__ = ["main"]
