"""Which output a run gets on a Ray cluster, and serving a store to the cluster.

:func:`serve_store`, called on the store's node (the runner's Ray executor and ``TrackerActor``
call it for you), starts the store's ingest actor: in the Ray namespace ``labtrack``, detached
(it serves every job), restarted when it dies, and pinned to that node with
``NodeAffinitySchedulingStrategy(soft=False)``, since the disk it writes is there. Its name,
``labtrack-store:<node id>:<store name>``, says where it is and (for a store named by its path)
what it serves, so a process decides where to write from the list of named actors alone,
without waiting for any actor to answer.

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
    already serving the same store is reused. ``name`` defaults to the store's absolute path
    (then nothing waits for the actor to start: writers' first calls queue until it has); a
    name already serving another folder raises ``ValueError``.
    """
    ray: Any = require("ray", "ray", "serving a store to a Ray cluster")
    if not ray.is_initialized():
        raise RuntimeError("labtrack.serve_store() needs Ray: call ray.init() first")
    from .._env import default_store_dir

    root = Path(dir if dir is not None else default_store_dir()).absolute()
    name = name or str(root)
    if not name or "://" in name or (name.startswith("/") and name != str(root)):
        raise ValueError(
            f"store name {name!r} must be non-empty, must not contain '://', and must not "
            "start with '/' (a path names the store at that path)"
        )
    node = ray.get_runtime_context().get_node_id()
    actor = f"{_PREFIX}{node}:{name}"
    with _lock:
        if actor in _where:
            return f"ray://{name}"
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    handle = (
        _actor_class()
        .options(
            name=actor,
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
            max_restarts=MAX_RESTARTS,
            num_cpus=0,
        )
        .remote(str(root), name)
    )
    where = {"root": str(root), "name": name, "node_id": node}
    if name != str(root):  # the same name may serve another folder: ask
        where = _ask_where(ray, handle, name)
        if Path(where["root"]) != root:
            raise ValueError(
                f"store name {name!r} already serves {where['root']} on this node, not {root}"
            )
    with _lock:
        _where[actor] = (handle, where)
    return f"ray://{name}"


def store_root(url: str) -> Path:
    """The folder on the store's node that ``"ray://<name>"`` names."""
    ray: Any = require("ray", "ray", f"the store {url!r}")
    name = url.removeprefix("ray://")
    if not ray.is_initialized():
        raise RuntimeError(f"the store {url!r} needs Ray: call ray.init() first")
    for actor, _node, served in _served(ray):
        if served == name:
            found = _lookup(ray, actor)
            if found is not None:
                return Path(found[1]["root"])
    raise ValueError(
        f"no store named {name!r} is served on this Ray cluster: call "
        f"labtrack.serve_store(dir, name={name!r}) on the store's node first"
    )


def ingest_actor(store: str | Path) -> Any:
    """The handle of the ingest actor serving ``store`` (``"ray://<name>"`` or the store's
    path), for operations and tests (its ``where()`` says its node and pid)."""
    ray: Any = require("ray", "ray", f"the store {store!r}")
    name = (
        store.removeprefix("ray://")
        if isinstance(store, str) and store.startswith("ray://")
        else str(Path(store).absolute())
    )
    for actor, _node, served in _served(ray):
        if served == name:
            return ray.get_actor(actor, namespace=NAMESPACE)
    raise ValueError(f"no store {store!r} is served on this Ray cluster")


def output_for(run_dir: Path, *, force: bool = False) -> Any:
    """A :class:`RemoteOutput` when ``run_dir`` belongs to a store served from another node of
    the Ray cluster this process is part of (or, with ``force``, from any node); None (write
    locally) otherwise. On the store's own node this asks nothing but the list of actors."""
    ray: Any = sys.modules.get("ray")
    if ray is None or not getattr(ray, "is_initialized", lambda: False)():
        return None
    best: tuple[str, str, Path] | None = None  # (actor, node, root): the innermost store
    for actor, node, served in _served(ray):
        if served.startswith("/"):
            root = Path(served)
        else:
            found = _lookup(ray, actor)
            if found is None:
                continue
            root = Path(found[1]["root"])
        if is_inside(run_dir, root) and (best is None or len(str(root)) > len(str(best[2]))):
            best = (actor, node, root)
    if best is None:
        return None
    if not force and best[1] == ray.get_runtime_context().get_node_id():
        return None
    found = _lookup(ray, best[0], ask=False)
    if found is None:
        return None
    from ._remote import RemoteOutput

    return RemoteOutput(found[0], run_dir)


def _served(ray: Any) -> list[tuple[str, str, str]]:
    """``(actor name, node id, store name)`` of every store served on the cluster."""
    out = []
    for entry in ray.util.list_named_actors(all_namespaces=True):
        actor = entry.get("name", "")
        if entry.get("namespace") == NAMESPACE and actor.startswith(_PREFIX):
            node, _, served = actor[len(_PREFIX) :].partition(":")
            out.append((actor, node, served))
    return out


def _lookup(ray: Any, actor: str, *, ask: bool = True) -> tuple[Any, dict[str, Any]] | None:
    """The actor's handle and what it says of itself (``ask=False``: the handle alone, which
    needs no answer from the actor; its ``where`` is then empty unless known)."""
    with _lock:
        known = _where.get(actor)
    if known is not None:
        return known
    try:
        handle = ray.get_actor(actor, namespace=NAMESPACE)
    except ValueError:  # not (or no longer) there
        return None
    if not ask:
        return (handle, {})
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
