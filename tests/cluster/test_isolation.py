"""The two-node test cluster is what the remote-store tests take it for: a task forced onto the
worker node runs there, and that node and the driver do not share the store's directory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.cluster.conftest import IsolatedCluster

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _write_and_look(store_dir: str, driver_file: str) -> dict[str, object]:
    """On the worker node: write a file under the store, and look for the driver's file."""
    store = Path(store_dir)
    store.mkdir(parents=True, exist_ok=True)
    (store / "from-worker.txt").write_text("written on the worker node")
    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "listing": sorted(p.name for p in store.iterdir()),
        "sees_driver_file": Path(driver_file).exists(),
        "read_back": (store / "from-worker.txt").read_text(),
    }


def test_a_task_on_the_worker_node_does_not_share_the_store(
    isolated_cluster: IsolatedCluster,
) -> None:
    store_dir = isolated_cluster.store_dir
    driver_file = store_dir / "from-driver.txt"
    driver_file.write_text("written by the driver")

    task = ray.remote(**isolated_cluster.on_worker)(_write_and_look)
    seen = ray.get(task.remote(str(store_dir), str(driver_file)), timeout=120)

    assert seen["node_id"] == isolated_cluster.worker_node_id != isolated_cluster.head_node_id
    assert seen["read_back"] == "written on the worker node"  # the write succeeded, there
    assert seen["listing"] == ["from-worker.txt"]
    assert seen["sees_driver_file"] is False
    assert sorted(p.name for p in store_dir.iterdir()) == ["from-driver.txt"]


def test_a_task_pinned_to_the_head_node_sees_the_drivers_store(
    isolated_cluster: IsolatedCluster,
) -> None:
    """The head node is the driver's machine: pinned there, a task sees the driver's files."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    store_dir = isolated_cluster.store_dir
    (store_dir / "shared-with-head.txt").write_text("on the driver's disk")
    on_head = NodeAffinitySchedulingStrategy(isolated_cluster.head_node_id, soft=False)

    @ray.remote(num_cpus=0, scheduling_strategy=on_head)
    def look(path: str) -> tuple[str, str]:
        return ray.get_runtime_context().get_node_id(), Path(path).read_text()

    node_id, text = ray.get(look.remote(str(store_dir / "shared-with-head.txt")), timeout=120)
    assert (node_id, text) == (isolated_cluster.head_node_id, "on the driver's disk")


def test_the_worker_node_stops_and_a_new_one_starts_empty(
    isolated_cluster: IsolatedCluster,
) -> None:
    @ray.remote(**isolated_cluster.on_worker)
    def listing(path: str) -> list[str]:
        return sorted(p.name for p in Path(path).iterdir())

    store_dir = str(isolated_cluster.store_dir)
    write = ray.remote(**isolated_cluster.on_worker)(_write_and_look)
    ray.get(write.remote(store_dir, "/nowhere"), timeout=120)
    old = isolated_cluster.worker_node_id

    isolated_cluster.stop_worker_node()
    assert not isolated_cluster.node_alive(old)
    assert isolated_cluster.worker is not None and isolated_cluster.worker.members() == []

    new = isolated_cluster.start_worker_node()
    assert new != old and isolated_cluster.node_alive(new)
    assert ray.get(listing.remote(store_dir), timeout=120) == []  # a fresh node's disk
