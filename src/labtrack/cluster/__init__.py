"""Writing into one store from every node of a Ray cluster, without a shared file system.

Owns the store's ingest actor (``_ingest``: on the store's node, it appends what remote writers
send), the remote writer's storage side (``_remote``: the same flushes, shipped to that actor with
acknowledgements, resends and exactly-once appends) and the routing between them (``_route``:
which runs write locally and which remotely). See ``docs/cluster.md``.

May import: ``labtrack.store``, ``labtrack.errors``, ``labtrack._env``, and Ray (lazily, inside
functions: importing this package does not import Ray).
"""

from __future__ import annotations

from ._route import ingest_actor, output_for, serve_store, store_root
from ._sync import fetch_folder, send_folder

__all__ = [
    "fetch_folder",
    "ingest_actor",
    "output_for",
    "send_folder",
    "serve_store",
    "store_root",
]
