"""Writers on Ray recording into one store's ingest actor, side by side with a local store.

    python bench/bench_remote.py                 # 8 writers x 1M points, 3 repeats (minutes)
    python bench/bench_remote.py --quick         # tiny sizes, a smoke test
    python bench/bench_remote.py --writers 4 --points 200000 --api log --repeat 5

The real path of a user's Ray task: a local ``ray.init(num_cpus=2)``, ``--writers`` Ray actors
(``num_cpus=0``, each its own worker process) and the store's ingest actor started by
``labtrack.serve_store(dir, name="bench")``. In every repeat the same writer processes record
``--points`` points each, all at once, three ways:

* ``list.append``: the floor, a Python ``list.append((step, value))`` per point;
* ``local store``: ``labtrack.start_run(exp, dir=<path>)``, the run directory written by the
  writer process itself;
* ``ingest actor``: ``labtrack.start_run(exp, dir="ray://bench")``, every flush shipped to the
  one ingest actor, which appends it to the store (the path of a worker node that cannot see
  the store; forced here on one node).

APIs (``--api``, comma-separated): ``log`` (``run.log({k: v, ...}, step=s)`` with ``--keys``
tags per call, the bulk path of a training loop), ``log_metric`` (one call per point, same tags
and steps) and ``log_points`` (numpy columns, ``--chunk`` steps of one tag per call, the path of
importers and replays).

Figures, each the median over repeats (spread min-max):

* end to end, points/s: all writers' points over the time from the first point logged by any
  writer until the last ``finish()`` returned (for the ingest actor ``finish()`` returns once the
  actor has acknowledged every batch and released the run, so the runs are complete on disk);
  every run is then read back with ``labtrack.store.open_run(d).scalars(tag)`` and its counts
  and values checked (not timed);
* worker CPU, us per point: ``time.process_time()`` of the writer process around its logging
  and ``finish()``, which covers every thread of the process: the caller's, the run's
  background writer and Ray's own threads that send the batches; and the caller's thread alone
  (``time.thread_time()``);
* ingest actor CPU, us per point: its process's user + system time from ``/proc/<pid>/stat``;
* all processes of the Ray session (driver, GCS, raylet, workers, actor), us per point: what
  the machine as a whole spends;
* scalar records per run, read from its data file: one per flush of the writer (a
  ``log_points`` call is one), so a writer that flushes more often than ``flush_interval``
  shows as more records.

``--profile DIR`` runs one more phase per API into the ingest actor with ``py-spy record`` on
the actor and the first writer, and prints where their samples went.

Run start-up (``start_run``: the claim, and for the ingest actor its round trip) is not in the
timed phase; the writers open their runs first and start logging together.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
if SRC.is_dir() and str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import numpy as np
from _common import fmt, table

import labtrack
from labtrack.cluster import ingest_actor
from labtrack.store import open_run
from labtrack.store._records import KIND_SCALARS, walk_file

STORE_NAME = "bench"
EXPERIMENT = "bench-remote"
APIS = ("log", "log_metric", "log_points")
FLOOR, LOCAL, REMOTE = "list.append", "local store", "ingest actor"
GOAL_RATE = 1_000_000  # points/s into one ingest actor
GOAL_CPU = 2.0  # us of worker CPU per point
CYCLE = 1000  # distinct rows of values each writer cycles through


def values_pool(seed: int, keys: int) -> np.ndarray:
    """The ``CYCLE`` x ``keys`` values writer ``seed`` logs: step ``s`` of tag ``k`` is
    ``pool[s % CYCLE, k]`` (shared by the writers and the read-back check)."""
    return np.random.default_rng(seed).random((CYCLE, keys))


def tag_names(keys: int) -> list[str]:
    return [f"metric_{k:03d}" for k in range(keys)]


class Writer:
    """One writer process (a Ray actor): opens a run, then logs into it when told."""

    def __init__(self, seed: int, keys: int, points: int, chunk: int) -> None:
        self.keys = tag_names(keys)
        self.steps = points // keys
        self.chunk = chunk
        self.pool = values_pool(seed, keys)
        self.rows = [dict(zip(self.keys, row.tolist(), strict=True)) for row in self.pool]
        self.lists = [row.tolist() for row in self.pool]
        self.run: Any = None

    def pid(self) -> int:
        return os.getpid()

    def open(self, dir: str, name: str) -> str:
        """Start the run (claim included) before the timed phase; returns its directory."""
        self.run = labtrack.start_run(EXPERIMENT, name=name, dir=dir, capture_exit=False)
        return str(self.run.dir)

    def write(self, api: str, steps: int) -> dict[str, float]:
        """Log ``steps`` steps of every tag through ``api`` and finish the run; wall and CPU
        times."""
        run, self.run = self.run, None
        rows = self.rows
        cycle = len(rows)
        if api == "log_points":
            index = np.arange(steps) % cycle
            columns = [np.ascontiguousarray(self.pool[index, k]) for k in range(len(self.keys))]
            all_steps = np.arange(steps, dtype=np.int64)
        wall0, cpu0, thread0 = time.time(), time.process_time(), time.thread_time()
        if api == "log":
            log = run.log
            for s in range(steps):
                log(rows[s % cycle], step=s)
        elif api == "log_metric":
            log_metric, keys, lists = run.log_metric, self.keys, self.lists
            for s in range(steps):
                for key, value in zip(keys, lists[s % cycle]):
                    log_metric(key, value, s)
        elif api == "log_points":
            log_points = run.log_points
            for lo in range(0, steps, self.chunk):
                hi = min(steps, lo + self.chunk)
                walls = np.full(hi - lo, time.time())
                for key, column in zip(self.keys, columns):
                    log_points(key, all_steps[lo:hi], column[lo:hi], walls)
        else:
            raise ValueError(f"unknown api {api!r}")
        run.finish()
        wall1, cpu1, thread1 = time.time(), time.process_time(), time.thread_time()
        return {
            "start": wall0,
            "end": wall1,
            "cpu": cpu1 - cpu0,
            "thread": thread1 - thread0,
            "points": steps * len(self.keys),
        }

    def floor(self) -> dict[str, float]:
        """The same points appended to a Python list as ``(step, value)`` tuples."""
        lists, cycle = self.lists, len(self.lists)
        out: list[tuple[int, float]] = []
        append = out.append
        wall0, cpu0, thread0 = time.time(), time.process_time(), time.thread_time()
        for s in range(self.steps):
            for value in lists[s % cycle]:
                append((s, value))
        wall1, cpu1, thread1 = time.time(), time.process_time(), time.thread_time()
        return {
            "start": wall0,
            "end": wall1,
            "cpu": cpu1 - cpu0,
            "thread": thread1 - thread0,
            "points": len(out),
        }


# ---------------------------------------------------------------------------- CPU of processes

_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """User + system seconds of process ``pid`` (all its threads) from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)


def session_pids(root: int) -> list[int]:
    """``root`` and every process descended from it (a local Ray session started by
    ``ray.init`` is the driver's descendants)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def session_cpu(pids: Sequence[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        try:
            found[pid] = proc_cpu(pid)
        except OSError:  # exited
            pass
    return found


# ---------------------------------------------------------------------------- profiling


class Profiler:
    """``py-spy record`` on some processes for the length of one phase (``--profile``):
    sampling, non-blocking, one collapsed-stack file per process, Python threads apart."""

    def __init__(self, py_spy: str, out: Path, pids: dict[str, int]) -> None:
        self.files = {role: out / f"{role}.txt" for role in pids}
        options = ["--rate", "100", "--nonblocking", "--threads", "--format", "raw"]
        self.procs = [
            subprocess.Popen(
                [py_spy, "record", "--pid", str(pid), *options, "--output", str(self.files[role])],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for role, pid in pids.items()
        ]
        time.sleep(1.0)  # attached before the phase starts

    def stop(self) -> dict[str, Path]:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return {role: f for role, f in self.files.items() if f.exists()}


def _frame(raw: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (package/file.py)``."""
    name, _, where = raw.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/"):
        path = path.split(marker)[-1]
    return f"{name} ({path})"


def profile_report(path: Path, top: int = 12) -> str:
    """Where one process's samples went: per thread, then the functions holding the most
    samples (inclusive: anywhere on the stack; self: the innermost frame)."""
    stacks, partial = [], ""
    for line in path.read_text().splitlines():
        partial += line  # a frame's name may hold a line break: a stack ends with its count
        stack, _, count = partial.rpartition(" ")
        if count.isdigit():
            stacks.append((stack.split(";"), int(count)))
            partial = ""
    total = sum(n for _, n in stacks) or 1
    threads: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    innermost: collections.Counter[str] = collections.Counter()
    for frames, n in stacks:
        threads[frames[0]] += n
        for name in {_frame(f) for f in frames[1:]}:
            if name.split(" (", 1)[1].startswith("labtrack/"):
                inclusive[name] += n
        innermost[_frame(frames[-1]) if len(frames) > 1 else frames[0]] += n
    lines = [f"{path.name}: {total} samples at 100 Hz (busy threads only)"]
    lines += [f"  {100 * n / total:5.1f}%  {t}" for t, n in threads.most_common()]
    lines.append("  inclusive, labtrack's functions:")
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines.append("  self:")
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in innermost.most_common(top)]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- measuring


@dataclass
class Sample:
    """One repeat of one (api, target): what the figures are computed from."""

    points: int
    seconds: float  # first point logged -> last finish() returned
    worker_cpu: float  # seconds, summed over writers
    thread_cpu: float
    actor_cpu: float  # seconds; 0 where the ingest actor takes no part
    session_cpu: float  # seconds, every process of the Ray session
    read_back: int  # points found by reading the runs back
    records: float  # scalar records per run: one per flush

    @property
    def rate(self) -> float:
        return self.points / self.seconds

    def per_point(self, seconds: float) -> float:
        return seconds / self.points * 1e6


@dataclass
class Series:
    api: str
    target: str
    samples: list[Sample] = field(default_factory=list)

    def median(self, what: str) -> float:
        return statistics.median(
            getattr(s, what) if what != "rate" else s.rate for s in self.samples
        )

    def median_us(self, what: str) -> float:
        return statistics.median(s.per_point(getattr(s, what)) for s in self.samples)

    def spread(self, values: list[float]) -> str:
        if len(values) < 2:
            return "(1 run)"
        return f"{fmt(min(values))}-{fmt(max(values))}"


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        import ray

        self.ray = ray
        self.args = args
        self.tmp = tmp
        self.local_root = tmp / "local"
        self.remote_root = tmp / "served"
        url = labtrack.serve_store(self.remote_root, name=STORE_NAME)
        assert url == f"ray://{STORE_NAME}", url
        ingest = ingest_actor(f"ray://{STORE_NAME}")
        self.actor_pid = int(ray.get(ingest.where.remote(), timeout=300)["pid"])
        actor = ray.remote(num_cpus=0)(Writer)
        self.writers: list[Any] = [
            actor.remote(i, args.keys, args.points, args.chunk) for i in range(args.writers)
        ]
        self.writer_pids = ray.get([w.pid.remote() for w in self.writers], timeout=600)
        self.series: dict[tuple[str, str], Series] = {}
        self.profiles: dict[str, Path] = {}
        self._n = 0

    def dirs(self, target: str) -> str:
        return f"ray://{STORE_NAME}" if target == REMOTE else str(self.local_root)

    def phase(
        self, api: str, target: str, steps: int | None = None, profile: Path | None = None
    ) -> Sample:
        """All writers record ``steps`` steps (default: all) at once through ``api`` into
        ``target``; checked by reading back. Recorded in :attr:`series` unless ``steps`` is
        given (a warm-up) or ``profile`` (a folder for py-spy's files of the ingest actor and
        the first writer: a phase that sampling slows down)."""
        ray = self.ray
        record = steps is None and profile is None
        steps = self.args.points // self.args.keys if steps is None else steps
        self._n += 1
        run_dirs: list[str] = []
        if target != FLOOR:
            run_dirs = ray.get(
                [
                    w.open.remote(self.dirs(target), f"{api}-w{i}-{self._n:03d}")
                    for i, w in enumerate(self.writers)
                ],
                timeout=600,
            )
        pids = session_pids(os.getpid())
        profiler = None
        if profile is not None:
            roles = {f"{api}-ingest-actor": self.actor_pid, f"{api}-writer-0": self.writer_pids[0]}
            profiler = Profiler(self.args.py_spy, profile, roles)
        before = session_cpu(pids)
        if target == FLOOR:
            refs = [w.floor.remote() for w in self.writers]
        else:
            refs = [w.write.remote(api, steps) for w in self.writers]
        done = ray.get(refs, timeout=3600)
        after = session_cpu(pids)
        if profiler is not None:
            self.profiles.update(profiler.stop())
        spent = {pid: after[pid] - before[pid] for pid in after if pid in before}
        points = sum(int(d["points"]) for d in done)
        sample = Sample(
            points=points,
            seconds=max(d["end"] for d in done) - min(d["start"] for d in done),
            worker_cpu=sum(d["cpu"] for d in done),
            thread_cpu=sum(d["thread"] for d in done),
            actor_cpu=spent.get(self.actor_pid, 0.0) if target == REMOTE else 0.0,
            session_cpu=sum(spent.values()),
            read_back=points,
            records=0.0,
        )
        if target != FLOOR:
            sample.read_back, sample.records = self.read_back(run_dirs, steps)
        if sample.read_back != points or points != steps * self.args.keys * len(self.writers):
            raise AssertionError(
                f"{api} into {target}: logged {points:,} points, read back {sample.read_back:,}"
            )
        if record:
            self.series.setdefault((api, target), Series(api, target)).samples.append(sample)
        return sample

    def read_back(self, run_dirs: Sequence[str], steps: int) -> tuple[int, float]:
        """Points in the finished runs, each tag checked against what its writer logged, and
        the mean number of scalar records per run."""
        keys = tag_names(self.args.keys)
        index = np.arange(steps) % CYCLE
        total = records = 0
        for seed, run_dir in enumerate(run_dirs):
            run = open_run(run_dir)
            if run.status != "completed":
                raise AssertionError(f"{run_dir} ended {run.status}: {run.error}")
            pool = values_pool(seed, self.args.keys)
            for k, tag in enumerate(keys):
                series = run.scalars(tag)
                if not (
                    np.array_equal(series.steps, np.arange(steps))
                    and np.array_equal(series.values, pool[index, k])
                ):
                    raise AssertionError(f"{run_dir}: tag {tag} does not read back as logged")
                total += len(series.values)
            data = Path(run_dir, ".labtrack", "data.ltr")
            with open(data, "rb") as fh:
                walked = walk_file(fh, 0, data.stat().st_size)
            records += sum(1 for r in walked.records if r.kind == KIND_SCALARS)
            shutil.rmtree(run_dir)  # keep the page cache to the runs being measured
        return total, records / len(run_dirs)


def report_line(api: str, target: str, s: Sample) -> str:
    actor = f" actor {fmt(s.per_point(s.actor_cpu)):>6} us/pt" if target == REMOTE else ""
    return (
        f"  {api:<10} {target:<13} {fmt(s.rate):>10} points/s in {s.seconds:6.2f} s;"
        f" worker CPU {fmt(s.per_point(s.worker_cpu)):>6} us/pt"
        f" (caller {fmt(s.per_point(s.thread_cpu))});{actor}"
        f" session {fmt(s.per_point(s.session_cpu))} us/pt; read back {s.read_back:,}"
        + (f" in {s.records:,.0f} records/run" if s.records else "")
    )


def summary(b: Bench, command: str) -> str:
    """The Markdown figures: one row per (api, target), medians over the repeats."""
    rows = []
    for (api, target), series in b.series.items():
        rates = [s.rate for s in series.samples]
        actor = fmt(series.median_us("actor_cpu")) if target == REMOTE else "-"
        rows.append(
            [
                api if target != FLOOR else "-",
                target,
                fmt(series.median("rate")),
                series.spread(rates),
                fmt(series.median_us("worker_cpu")),
                fmt(series.median_us("thread_cpu")),
                actor,
                fmt(series.median_us("session_cpu")),
                f"{series.samples[-1].read_back:,}",
                fmt(series.median("records")) if target != FLOOR else "-",
            ]
        )
    a = b.args
    headers = [
        "API",
        "store",
        "points/s",
        "spread",
        "worker CPU us/pt",
        "caller thread us/pt",
        "actor CPU us/pt",
        "all processes us/pt",
        "points read back",
        "records per run",
    ]
    lines = [
        f"Command: `{command}` (medians of {a.repeat}; {a.writers} writers x {a.points:,} points,"
        f" {a.keys} tags per step; {os.cpu_count()} cores shared by the writers, the ingest"
        f" actor and Ray; goal into one actor: >= {GOAL_RATE:,} points/s and <= {GOAL_CPU} us"
        " of worker CPU per point)",
        "",
        table(headers, rows),
    ]
    return "\n".join(lines)


def results_document(b: Bench) -> dict[str, Any]:
    return {
        "writers": b.args.writers,
        "points": b.args.points,
        "keys": b.args.keys,
        "repeat": b.args.repeat,
        "cores": os.cpu_count(),
        "series": [
            {
                "api": series.api,
                "store": series.target,
                "points_per_s": series.median("rate"),
                "worker_cpu_us": series.median_us("worker_cpu"),
                "thread_cpu_us": series.median_us("thread_cpu"),
                "actor_cpu_us": series.median_us("actor_cpu"),
                "session_cpu_us": series.median_us("session_cpu"),
                "records_per_run": series.median("records"),
                "samples": [asdict(s) for s in series.samples],
            }
            for series in b.series.values()
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--writers", type=int, default=8, help="writer processes (default 8)")
    parser.add_argument("--points", type=int, default=1_000_000, help="points per writer")
    parser.add_argument("--keys", type=int, default=100, help="tags per step (default 100)")
    parser.add_argument(
        "--chunk", type=int, default=10_000, help="steps per log_points call (default 10,000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="repeats (default 3)")
    parser.add_argument("--api", default=",".join(APIS), help=f"comma-separated: {APIS}")
    parser.add_argument("--quick", action="store_true", help="2 writers x 20,000 points, once")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--profile",
        type=Path,
        help="after the repeats, one more phase per API into the ingest actor with py-spy on the"
        " actor and the first writer; their collapsed stacks go to this folder, a digest to stdout",
    )
    args = parser.parse_args(argv)
    args.py_spy = shutil.which("py-spy")
    if args.profile is not None:
        if args.py_spy is None:
            parser.error("--profile needs py-spy: pip install py-spy")
        args.profile.mkdir(parents=True, exist_ok=True)
        args.profile = args.profile.absolute()
    if args.quick:
        args.writers, args.points, args.keys, args.repeat = 2, 20_000, 10, 1
    apis = [a.strip() for a in args.api.split(",") if a.strip()]
    if not apis or set(apis) - set(APIS):
        parser.error(f"--api: choose from {', '.join(APIS)}")
    if args.points % args.keys or args.points < args.keys or args.writers < 1:
        parser.error("--points must be a positive multiple of --keys, --writers at least 1")
    import ray

    tmp = Path(tempfile.mkdtemp(prefix="labtrack-bench-remote-"))
    old_cwd = os.getcwd()
    os.chdir(tmp)  # the writers' git lookup: keep it out of any checkout
    command = "python bench/bench_remote.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"labtrack remote-writer benchmark: {command.strip()}")
    print(
        f"python {sys.version.split()[0]}, ray {ray.__version__}, {os.cpu_count()} cores,"
        f" temp dir {tmp}"
    )
    print(
        f"{args.writers} writers x {args.points:,} points ({args.keys} tags x"
        f" {args.points // args.keys:,} steps), APIs {', '.join(apis)}, {args.repeat} repeat(s)\n"
    )
    # Ray's processes (started by ray.init, so they inherit this environment) import the same
    # labtrack as this script, and this module when it was imported rather than run.
    paths = [str(SRC), str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    try:
        ray.init(
            num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False
        )
        started = time.perf_counter()
        b = Bench(args, tmp)
        print(
            f"Ray, the ingest actor and {args.writers} writers up in {time.perf_counter() - started:.1f} s"
        )
        for target in (LOCAL, REMOTE):  # imports, route look-ups, first files: not measured
            for api in apis:
                b.phase(api, target, steps=min(100, args.points // args.keys))
        for rep in range(args.repeat):
            print(f"repeat {rep + 1}/{args.repeat}")
            s = b.phase("-", FLOOR)
            print(report_line("-", FLOOR, s), flush=True)
            for api in apis:
                order = (LOCAL, REMOTE) if rep % 2 == 0 else (REMOTE, LOCAL)
                for target in order:
                    print(report_line(api, target, b.phase(api, target)), flush=True)
        if args.profile is not None:
            print(f"profiling (py-spy, files in {args.profile})")
            for api in apis:
                print(report_line(api, REMOTE, b.phase(api, REMOTE, profile=args.profile)))
        ray.shutdown()
    finally:
        os.chdir(old_cwd)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\n## Summary (Markdown)\n")
    print(summary(b, command.strip()))
    if b.profiles:
        print("\n## Profiles (py-spy)\n")
        for path in b.profiles.values():
            print(profile_report(path), end="\n\n")
    if args.json is not None:
        args.json.write_text(json.dumps(results_document(b), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
