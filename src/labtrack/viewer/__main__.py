"""``python -m labtrack.viewer DIR --port P``."""

from __future__ import annotations

from . import main

raise SystemExit(main())
