"""A two-node local Ray cluster whose worker node cannot see the driver's store.

Usage, from any test module in this folder::

    def test_a_task_on_the_worker_node(isolated_cluster):
        @ray.remote(**isolated_cluster.on_worker)
        def where() -> str:
            return ray.get_runtime_context().get_node_id()

        assert ray.get(where.remote()) == isolated_cluster.worker_node_id

The ``isolated_cluster`` fixture (one per test module) starts, on this one machine::

    this pytest process ── driver ──► head node            ray start --head, 1 CPU
                                      (sees store_dir)     the driver's node
                                      ▲
                                      │ 127.0.0.1:<port>
                                      │
    unshare --mount ─────────────────► worker node          ray start --address, 2 CPUs,
    (tmpfs over store_dir's parent)   (an empty store_dir) resource "labtrack_remote_node"

so a run written on the worker node lands on that node's tmpfs, as it would on the local disk of
another machine, and the driver's store sees it only if labtrack carries it there.

Design notes (measured against Ray 2.60):

- **Why ``ray start`` and not ``ray.cluster_utils.Cluster``**: ``Cluster`` starts every node from
  this process, in its mount namespace; a node that must not see a directory needs its own
  ``ray start`` under ``unshare``. Each node is a ``ray start --block`` in its own session, and is
  stopped by signalling that session's processes: never ``ray stop``, which kills every Ray
  process on the machine, other test sessions' included.
- **Ports**: two nodes on one address collide on Ray's fixed defaults, as ``Cluster.add_node``
  knows: the dashboard agent's HTTP port (52365 on every node), the head's GCS (6379), Ray Client
  (10001) and dashboard (8265) ports, and the worker-port range both raylets would draw from.
  Every node gets free ports of its own for the fixed ones and ``--min/max-worker-port=0``
  (random ports) for its workers; everything else Ray already picks at random.
- **Addresses**: every node is started with ``--node-ip-address=127.0.0.1``, but on Linux Ray
  replaces a loopback address by the host's primary address (``resolve_ip_for_localhost``: it
  refuses to advertise an address other machines cannot reach). Packets to the host's own address
  are delivered locally over ``lo``, so the cluster's traffic never leaves the machine either way.
- **Temp dirs**: each node gets its own ``--temp-dir`` (Ray allows one per node), as two machines
  would have, so each node's logs are its own; they sit under a short ``/tmp/lt-ray-*`` because
  Ray's Unix sockets live there and a socket path may not exceed 107 bytes (pytest's ``tmp_path``
  is too long). At teardown the logs are copied to ``<tmp_path_factory>/cluster*/ray-logs``.
- **Authentication**: Ray 2.60's ``ray start --head`` turns token authentication on when
  ``~/.ray/auth_token`` exists, but ``ray start --address`` does not, so a default pair of nodes
  does not even connect; and a local ``ray.init()`` earlier in this process turns it on for the
  process for good (a driver whose server wants a token the nodes do not send loses every actor
  it places there, while tasks still work). So token authentication is on everywhere, explicitly
  (``RAY_AUTH_MODE=token`` on both nodes and in this driver), with this machine's one token,
  made first when no Ray session has made it yet.
- **Start-up under load**: every step is bounded (``START_TIMEOUT`` in all, ``ATTEMPTS`` tries
  with fresh ports and temp dirs when a node exits early or does not come up in time); a failure
  raises with the tail of the node's ``ray start`` output and Ray's own logs.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"

#: The custom resource only the worker node has: ``resources={RESOURCE: 1}`` forces a task there.
RESOURCE = "labtrack_remote_node"
#: Bound for bringing the whole cluster up (both nodes, the driver, every retry).
START_TIMEOUT = 180.0
#: Bound for a node's processes to exit after SIGTERM before they get SIGKILL.
STOP_GRACE = 20.0
#: Bound for Ray to report a stopped node dead (a SIGKILLed raylet is found by health checks).
DEAD_TIMEOUT = 120.0
#: Tries per node when its start-up flakes.
ATTEMPTS = 3
LOG_TAIL_LINES = 40
#: A private mount namespace: mounts made in it are invisible outside, and vice versa.
UNSHARE = ["unshare", "--mount", "--propagation", "private"]


class ClusterStartError(RuntimeError):
    """A node of the test cluster did not come up; the message carries its logs' tails."""


@cache
def isolation_unavailable() -> str | None:
    """Why this machine cannot run a node in its own mount namespace, or None if it can.

    Probed once per session with the exact operation the worker node needs.
    """
    if not sys.platform.startswith("linux"):
        return f"mount namespaces need Linux (this is {sys.platform})"
    for tool in ("unshare", "mount"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    probe = tempfile.mkdtemp(prefix="lt-ns-probe-")
    try:
        proc = subprocess.run(
            [*UNSHARE, "sh", "-c", f"mount -t tmpfs tmpfs {shlex.quote(probe)}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`unshare --mount` could not run: {exc}"
    finally:
        os.rmdir(probe)
    if proc.returncode != 0:
        return (
            "`unshare --mount` + `mount -t tmpfs` is not permitted here (needs root or "
            f"CAP_SYS_ADMIN): {(proc.stderr or proc.stdout).strip()}"
        )
    return None


def _ray_start(*switches: str, **options: object) -> list[str]:
    """``ray start --block`` with this interpreter's Ray; ``min_worker_port=0`` becomes
    ``--min-worker-port=0``.

    Every node gets free ports for the ports Ray otherwise fixes (see the module docstring),
    random ports for its workers, no GPUs and a small object store (two nodes share the
    machine's memory).
    """
    options = {
        "node_ip_address": "127.0.0.1",
        "min_worker_port": 0,
        "max_worker_port": 0,
        "num_gpus": 0,
        "object_store_memory": 256 * 2**20,
        **options,
    }
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
    return [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", *switches, *flags]


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports that are free on every address right now (held open together so
    they differ; a race with another process is what the start-up retries are for)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _session_members(sid: int) -> list[int]:
    """Pids of the live (not zombie) processes in session ``sid``.

    A node's processes all stay in the session its ``ray start`` leads, even the Ray workers
    that put themselves in process groups of their own, so this finds exactly that node's
    processes and nobody else's.
    """
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state ppid pgrp session ...
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry))
    return members


def _nodes() -> list[dict[str, Any]]:
    """Ray's view of the cluster's nodes, dead ones included (``NodeID``, ``Alive``, ...)."""
    import ray

    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return nodes


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class RayNode:
    """One ``ray start --block`` in a session of its own, with its own temp dir and output file.

    ``start()`` only launches it; readiness is the cluster's business (the head is ready when
    it has written its address file, a worker when Ray reports it alive).
    """

    def __init__(self, name: str, argv: list[str], temp_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.temp_dir = temp_dir
        self.env = env
        self.output = temp_dir / "ray-start.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def logs_dir(self) -> Path:
        return self.temp_dir / "session_latest" / "logs"

    def members(self) -> list[int]:
        """The node's live processes (its ``ray start`` leads their session)."""
        return [] if self.proc is None else _session_members(self.proc.pid)

    def stop(self, *, kill: bool = False, grace: float = STOP_GRACE) -> None:
        """End every process of the node: SIGTERM to its process group (Ray's graceful path),
        then, after ``grace`` seconds or at once with ``kill``, SIGKILL to every process left
        in its session. Raises if any survives.

        ``ray start`` itself sometimes spends seconds on its own cleanup after every process
        it started is gone (seen: 5 s, once 20 s); with nothing left to clean up it gets two.
        """
        if self.proc is None:
            return
        sid = self.proc.pid
        if not kill and self.proc.poll() is None:
            try:
                os.killpg(sid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + grace
            alone_since = None
            while self.proc.poll() is None and time.monotonic() < deadline:
                if _session_members(sid) == [sid]:
                    alone_since = alone_since or time.monotonic()
                    if time.monotonic() - alone_since > 2:
                        break
                time.sleep(0.2)
        deadline = time.monotonic() + grace
        while (members := _session_members(sid)) and time.monotonic() < deadline:
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        self.proc.wait(timeout=grace)
        if members := _session_members(sid):
            raise RuntimeError(f"{self.name}: processes {members} survived SIGKILL")

    def describe(self) -> str:
        """The tail of the node's ``ray start`` output and of Ray's logs, for an error message."""
        parts = [f"--- {self.name}: {shlex.join(self.argv)}"]
        if self.proc is not None and self.proc.poll() is not None:
            parts.append(f"exited with {self.proc.returncode}")
        parts += [f"--- {self.output}", _tail(self.output)]
        for log in ("raylet.out", "raylet.err", "gcs_server.out", "gcs_server.err"):
            text = _tail(self.logs_dir / log)
            if text.strip():
                parts += [f"--- {self.logs_dir / log}", text]
        return "\n".join(parts)


def _ensure_auth_token() -> None:
    """Make this machine's Ray token (``~/.ray/auth_token``) if no Ray session made it yet."""
    from ray._private.authentication import authentication_token_setup as auth

    if not (Path.home() / ".ray" / "auth_token").exists():
        auth.generate_and_save_token()


class IsolatedCluster:
    """A head node (the driver's, seeing ``store_dir``) and a worker node that cannot see it.

    Attributes:
        address: the head's GCS address, for ``ray.init(address=...)`` in another process.
        store_dir: where the driver's store goes; the worker node has an empty directory of the
            same path on a tmpfs of its own, so writing there "works" but never reaches the
            driver's disk.
        head_node_id / worker_node_id: Ray node ids (hex); ``worker_node_id`` is the current
            worker node's (after ``stop_worker_node`` the stopped one's).
        resource: the custom resource only the worker node has.
    """

    def __init__(self, root: Path, temp_root: Path) -> None:
        self.root = root
        self.store_parent = root / "hidden"
        self.store_dir = self.store_parent / "store"
        self.store_dir.mkdir(parents=True)
        self.resource = RESOURCE
        self.temp_root = temp_root
        self.address = ""
        self.head_node_id = ""
        self.worker_node_id = ""
        self.head: RayNode | None = None
        self.worker: RayNode | None = None
        self._starts = 0
        self._env = {
            **os.environ,
            "RAY_AUTH_MODE": "token",
            "RAY_USAGE_STATS_ENABLED": "0",
            # On SIGTERM, `ray start` first drains its node, waiting up to 30 s for running
            # tasks; a stopped node here must stop now, as a lost machine would.
            "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
            # Workers import this checkout's labtrack and the test modules that define tasks.
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), str(SRC), os.environ.get("PYTHONPATH", "")) if p
            ),
        }

    @property
    def on_worker(self) -> dict[str, Any]:
        """Ray task or actor options that place it on the worker node."""
        return {"resources": {self.resource: 1}}

    # -- start -----------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the head, connect this process as the driver, start the worker node."""
        import ray

        if ray.is_initialized():
            raise RuntimeError("Ray is already initialised in this process; shut it down first")
        deadline = time.monotonic() + timeout
        _ensure_auth_token()
        self._start_head(deadline)
        # Token authentication on every node and in this driver, with the one token of this
        # machine (~/.ray/auth_token): an earlier local ray.init() in this process turns it on
        # for the process whatever we ask, and a driver whose own server wants a token that
        # the nodes do not send loses every actor it places there.
        from ray._private.authentication import authentication_token_setup as auth

        auth._enable_token_auth()  # RAY_AUTH_MODE=token, and Ray's cached config refreshed
        ray.init(address=self.address, log_to_driver=False, logging_level=logging.ERROR)
        self.head_node_id = ray.get_runtime_context().get_node_id()
        self._start_worker(deadline)

    def _start_head(self, deadline: float) -> None:
        errors = []
        for attempt in range(1, ATTEMPTS + 1):
            port, client_port, dashboard_port, agent_port = _free_ports(4)
            temp_dir = self.temp_root / f"h{attempt}"
            argv = _ray_start(
                "--head",
                "--disable-usage-stats",
                port=port,
                ray_client_server_port=client_port,
                include_dashboard="false",
                dashboard_port=dashboard_port,
                dashboard_agent_listen_port=agent_port,
                num_cpus=1,
                temp_dir=temp_dir,
            )
            node = RayNode("head", argv, temp_dir, self._env)
            node.start()
            # `ray start` writes this file once its node is up, then blocks.
            ready = node.temp_dir / "ray_current_cluster"
            while node.running and not ready.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            if node.running and ready.exists():
                self.head = node
                self.address = f"127.0.0.1:{port}"
                return
            why = "exited early" if not node.running else "did not come up in time"
            errors.append(f"attempt {attempt}: head {why}\n{node.describe()}")
            node.stop(grace=5)
            if time.monotonic() >= deadline:
                break
        raise ClusterStartError("\n\n".join(errors))

    def _start_worker(self, deadline: float) -> None:
        errors = []
        known = {n["NodeID"] for n in _nodes()}
        for attempt in range(1, ATTEMPTS + 1):
            self._starts += 1
            (agent_port,) = _free_ports(1)
            temp_dir = self.temp_root / f"w{self._starts}"
            ray_start = _ray_start(
                address=self.address,
                dashboard_agent_listen_port=agent_port,
                num_cpus=2,
                resources=json.dumps({self.resource: 100}),
                temp_dir=temp_dir,
            )
            # The tmpfs hides the driver's store_dir from this node and everything it starts;
            # `exec` keeps `ray start` the session's leader, the pid we signal.
            script = (
                f"mount -t tmpfs tmpfs {shlex.quote(str(self.store_parent))} "
                f"&& mkdir -p {shlex.quote(str(self.store_dir))} && exec {shlex.join(ray_start)}"
            )
            argv = [*UNSHARE, "sh", "-c", script]
            node = RayNode(f"worker-{self._starts}", argv, temp_dir, self._env)
            node.start()
            node_id = None
            while node.running and time.monotonic() < deadline:
                fresh = [
                    n
                    for n in _nodes()
                    if n["Alive"] and n["NodeID"] not in known and self.resource in n["Resources"]
                ]
                if fresh:
                    node_id = fresh[0]["NodeID"]
                    break
                time.sleep(0.5)
            if node_id is not None:
                self.worker = node
                self.worker_node_id = node_id
                return
            why = "exited early" if not node.running else "did not join in time"
            errors.append(f"attempt {attempt}: worker node {why}\n{node.describe()}")
            node.stop(grace=5)
            known = {n["NodeID"] for n in _nodes()}
            if time.monotonic() >= deadline:
                break
        raise ClusterStartError("\n\n".join(errors))

    def start_worker_node(self, timeout: float = START_TIMEOUT) -> str:
        """Start a new worker node (a fresh, empty tmpfs) after ``stop_worker_node``; return
        its node id."""
        if self.worker is not None and self.worker.running:
            raise RuntimeError("the worker node is running; stop it first")
        self._start_worker(time.monotonic() + timeout)
        return self.worker_node_id

    # -- stop ------------------------------------------------------------------------------

    def node_alive(self, node_id: str) -> bool:
        """Whether Ray's GCS reports the node alive."""
        return any(n["NodeID"] == node_id and n["Alive"] for n in _nodes())

    def stop_worker_node(self, *, kill: bool = False, timeout: float = DEAD_TIMEOUT) -> None:
        """Stop the worker node and wait until Ray reports it dead.

        ``kill=False`` stops it the way an operator would (SIGTERM, Ray's graceful shutdown);
        ``kill=True`` SIGKILLs all its processes at once, as when the machine dies, and Ray
        notices only through its health checks (tens of seconds).
        """
        if self.worker is None:
            raise RuntimeError("no worker node was started")
        self.worker.stop(kill=kill)
        deadline = time.monotonic() + timeout
        while self.node_alive(self.worker_node_id):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Ray still reports worker node {self.worker_node_id} alive "
                    f"{timeout:.0f} s after its processes ended"
                )
            time.sleep(0.5)

    def shutdown(self, logs_to: Path) -> None:
        """Disconnect the driver, end both nodes' processes, keep their logs in ``logs_to``,
        remove the temp dirs. Raises if a node's process survives."""
        import ray

        ray.shutdown()
        errors = []
        for node in (self.worker, self.head):
            if node is None:
                continue
            try:
                node.stop()
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                errors.append(str(exc))
        try:
            for node_dir in sorted(self.temp_root.iterdir()):
                dest = logs_to / node_dir.name
                logs = node_dir / "session_latest" / "logs"
                if logs.is_dir():
                    shutil.copytree(logs, dest, ignore_dangling_symlinks=True)
                dest.mkdir(parents=True, exist_ok=True)
                if (node_dir / "ray-start.log").exists():
                    shutil.copy(node_dir / "ray-start.log", dest)
        except OSError as exc:
            errors.append(f"could not keep the nodes' logs: {exc}")
        finally:
            shutil.rmtree(self.temp_root, ignore_errors=True)
        if errors:
            raise RuntimeError("; ".join(errors))


@pytest.fixture(scope="module")
def isolated_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IsolatedCluster]:
    """A started :class:`IsolatedCluster`, this process its driver; torn down after the module.

    Skips where Ray is not installed or a mount namespace cannot be made.
    """
    pytest.importorskip("ray")
    reason = isolation_unavailable()
    if reason is not None:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("cluster")
    cluster = IsolatedCluster(root, Path(tempfile.mkdtemp(prefix="lt-ray-", dir="/tmp")))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.shutdown(logs_to=root / "ray-logs")
