"""Which output a run gets on a Ray cluster, and serving a store to the cluster.

:func:`serve_store`, called on the store's node (the runner's Ray executor and ``TrackerActor``
call it for you), starts the store's ingest actor: named ``labtrack-store:<name>`` in the Ray
namespace ``labtrack``, detached (it serves every job), restarted when it dies, and pinned to that
node with ``NodeAffinitySchedulingStrategy(soft=False)``, since the disk it writes is there.

:func:`output_for` is asked by ``start_run`` for every run. Outside Ray (``ray`` not imported, or
not initialised) it answers at once: write locally. In a Ray process it looks for a served store
whose folder holds the run directory; when that store's node is not this process's node, the run
gets a :class:`~labtrack.cluster._remote.RemoteOutput`, else it writes locally as always.
"""

from __future__ import annotations

import functools
import sys
import threading
from pathlib import Path
from typing import Any

from ..errors import require
from ..store._files import is_inside

#: The Ray namespace of ingest actors (so any job finds them).
NAMESPACE = "labtrack"
_PREFIX = "labtrack-store:"
#: Seconds to wait for the ingest actor to start (Ray start-up is slow on a loaded machine).
START_TIMEOUT = 120.0
#: Restarts of a dead ingest actor before Ray gives up on it (-1: no limit).
MAX_RESTARTS = -1

_lock = threading.Lock()
_where: dict[str, tuple[Any, dict[str, Any]]] = {}  # actor name -> (handle, where())


def serve_store(dir: str | Path | None = None, *, name: str | None = None) -> str:
    """Make the store at ``dir`` writable from every node of the Ray cluster; returns
    ``"ray://<name>"``, which ``start_run(dir=...)`` also accepts on any node.

    Call it on the node whose disk holds the store, after ``ray.init``. Idempotent: an actor
    already serving the same store is reused. ``name`` defaults to the store's absolute path;
    a name already serving another folder raises ``ValueError``.
    """
    ray: Any = require("ray", "ray", "serving a store to a Ray cluster")
    if not ray.is_initialized():
        raise RuntimeError("labtrack.serve_store() needs Ray: call ray.init() first")
    from .._env import default_store_dir

    root = Path(dir if dir is not None else default_store_dir()).absolute()
    name = name or str(root)
    if not name or "://" in name:
        raise ValueError(f"store name {name!r} must be non-empty and must not contain '://'")
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    handle = (
        _actor_class()
        .options(
            name=_PREFIX + name,
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
            max_restarts=MAX_RESTARTS,
            num_cpus=0,
        )
        .remote(str(root), name)
    )
    where = _ask_where(ray, handle, name)
    if Path(where["root"]) != root:
        raise ValueError(
            f"store name {name!r} already serves {where['root']} on this Ray cluster, not {root}"
        )
    with _lock:
        _where[_PREFIX + name] = (handle, where)
    return f"ray://{name}"


def store_root(url: str) -> Path:
    """The folder on the store's node that ``"ray://<name>"`` names."""
    ray: Any = require("ray", "ray", f"the store {url!r}")
    name = url.removeprefix("ray://")
    if not ray.is_initialized():
        raise RuntimeError(f"the store {url!r} needs Ray: call ray.init() first")
    found = _lookup(ray, _PREFIX + name)
    if found is None:
        raise ValueError(
            f"no store named {name!r} is served on this Ray cluster: call "
            f"labtrack.serve_store(dir, name={name!r}) on the store's node first"
        )
    return Path(found[1]["root"])


def output_for(run_dir: Path, *, force: bool = False) -> Any:
    """A :class:`RemoteOutput` when ``run_dir`` belongs to a store served from another node of
    the Ray cluster this process is part of (or, with ``force``, from any node); None (write
    locally) otherwise."""
    ray: Any = sys.modules.get("ray")
    if ray is None or not getattr(ray, "is_initialized", lambda: False)():
        return None
    found = _store_of(ray, run_dir)
    if found is None:
        return None
    handle, where = found
    if not force and where["node_id"] == ray.get_runtime_context().get_node_id():
        return None
    from ._remote import RemoteOutput

    return RemoteOutput(handle, run_dir)


def _store_of(ray: Any, run_dir: Path) -> tuple[Any, dict[str, Any]] | None:
    """The served store whose folder holds ``run_dir`` (the innermost one), or None."""
    best: tuple[Any, dict[str, Any]] | None = None
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry.get("namespace") != NAMESPACE or not entry.get("name", "").startswith(_PREFIX):
            continue
        found = _lookup(ray, entry["name"])
        if found is None or not is_inside(run_dir, Path(found[1]["root"])):
            continue
        if best is None or len(found[1]["root"]) > len(best[1]["root"]):
            best = found
    return best


def _lookup(ray: Any, actor: str) -> tuple[Any, dict[str, Any]] | None:
    with _lock:
        known = _where.get(actor)
    if known is not None:
        return known
    try:
        handle = ray.get_actor(actor, namespace=NAMESPACE)
    except ValueError:  # not (or no longer) there
        return None
    found = (handle, _ask_where(ray, handle, actor))
    with _lock:
        _where[actor] = found
    return found


def _ask_where(ray: Any, handle: Any, name: str) -> dict[str, Any]:
    try:
        where: dict[str, Any] = ray.get(handle.where.remote(), timeout=START_TIMEOUT)
    except ray.exceptions.GetTimeoutError:
        raise RuntimeError(
            f"the ingest actor of store {name!r} did not start within {START_TIMEOUT:.0f} s"
        ) from None
    return where


@functools.cache
def _actor_class() -> Any:
    import ray

    from ._ingest import StoreIngest

    return ray.remote(StoreIngest)  # one call at a time: a writer's calls run in order
