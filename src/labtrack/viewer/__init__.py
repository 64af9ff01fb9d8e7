"""labtrack's local web viewer: runs table, scalars, text, figures, media, compare, artifacts.

Owns: the HTTP server (Starlette + uvicorn), its JSON/file API, and the static front end in
``static/`` (plain JavaScript, uPlot vendored; no build step). May import: ``labtrack.store``
(the only way it reads runs), ``labtrack.errors``, ``labtrack._env``. Never the runner, tracker or
sinks. Starlette, uvicorn, matplotlib and plotly are imported only when the viewer starts.

::

    $ labtrack ui out --port 8765
    $ python -m labtrack.viewer out --port 8765

    from labtrack.viewer import run
    run("out", port=8765)
"""

from __future__ import annotations

from ._serve import main, run

__all__ = ["main", "run"]
