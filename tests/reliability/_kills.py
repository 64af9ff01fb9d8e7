"""The crash window: SIGKILL a process logging in a tight loop at a random time; see what survived.

The guarantee (issue 9): every point logged more than ``flush_interval + 20 ms`` before a SIGKILL
is readable afterwards, also under load; what is readable is exactly steps ``0..k`` with the
logged values; the run reads ``crashed`` (also while the killed child is an unreaped zombie); and
resuming the run continues cleanly after step ``k``.

How a loss is measured. The child writes, every :data:`EVERY` steps, the wall clock right after
the logging call returned into a memory-mapped file, which outlives the kill. Afterwards the first
step that was not persisted is ``k + 1``; it was logged no later than the clock reading of the
first checkpoint at or after it. If that reading is older than ``t_kill - window``, a point older
than the window was lost. The bound is exact to within :data:`EVERY` steps (tens of microseconds)
and, unlike "the last persisted wall time plus the time between two points", it stays right when
the child is descheduled under load: while it does not run it logs nothing, so nothing is lost.

What the window does not count. No process can persist while the kernel keeps it waiting for a
CPU, so the time the child's threads spent runnable but not running (their ``run_delay`` in
``/proc/<pid>/task/*/schedstat``, sampled every few milliseconds until the kill) is added to the
window of the points logged before it. On an idle machine that is about zero; it is what keeps
the check exact on a machine loaded far beyond its cores.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import labtrack
from labtrack.store import open_run

from ._harness import Lines, short, spawn_script, stop

#: Steps between two clock readings in the child.
EVERY = 64
#: Clock readings the shared file holds (16 M steps: far more than a child logs before its kill).
SLOTS = 1 << 18
#: How late a point may be logged before the kill and still be lost (on top of flush_interval).
SLACK = 0.020

CHILD = """
import mmap, sys, time
import labtrack

n_tags, interval, clock_file = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
with open(clock_file, "r+b") as fh:
    clock = memoryview(mmap.mmap(fh.fileno(), 0)).cast("d")
run = labtrack.start_run("crash", name="victim", dir="store", flush_interval=interval)
keys = [f"t{j}" for j in range(n_tags)]
now = time.time
give_up = now() + 60  # never outlive a parent that died
step = 0
while True:
    if n_tags == 1:
        run.log_metric("t0", float(step), step=step)
    else:
        run.log({key: step + j / 1024 for j, key in enumerate(keys)}, step=step)
    if not step % 64:
        clock[step // 64] = now()
        if not step:
            print(run.dir, flush=True)  # logging has started
        elif clock[step // 64] > give_up:
            sys.exit(3)
    step += 1
"""


def logged_value(tag_index: int, steps: np.ndarray) -> np.ndarray:
    """The value the child logs for tag ``t<tag_index>`` at ``steps`` (exact in float64)."""
    return steps.astype(np.float64) + tag_index / 1024


@dataclass
class Kill:
    """What one kill left behind."""

    tags: int
    delay: float  # seconds between "logging has started" and the kill
    window: float  # flush_interval + SLACK
    status: str = ""  # after the child was reaped
    status_unreaped: str = ""  # while the dead child was still a zombie
    persisted: int = 0  # points of the tag with the fewest
    logged: int = 0  # steps the child had logged (to within EVERY)
    lost_outside: int = 0  # points logged before t_kill - window and not readable
    loss_age: float = 0.0  # how long before the kill the first lost point was logged (lower bound)
    waited: float = 0.0  # the child's threads' wait for a CPU in the window of the first lost point
    corrupt: list[str] = field(default_factory=list)  # wrong, missing-in-the-middle or damaged data
    resumed: bool = False
    resume_problem: str | None = None
    kept: str | None = None  # the trial's directory, kept when something went wrong

    @property
    def ok(self) -> bool:
        return (
            not self.corrupt
            and self.lost_outside == 0
            and self.status == "crashed"
            and self.status_unreaped == "crashed"
            and self.resume_problem is None
        )


def kill_once(work: Path, *, tags: int, flush_interval: float, delay: float, resume: bool) -> Kill:
    """Start a child logging ``tags`` tags per step, SIGKILL it ``delay`` s after it started
    logging, and check what reads back (then resume the run, if asked)."""
    work.mkdir(parents=True)
    clock_file = work / "clock"
    with open(clock_file, "wb") as fh:
        fh.truncate(SLOTS * 8)
    kill = Kill(tags=tags, delay=delay, window=flush_interval + SLACK)
    proc = spawn_script(CHILD, work, [str(tags), repr(flush_interval), str(clock_file)])
    try:
        line = Lines(proc).next(timeout=120)
        if not line:
            stop(proc)
            kill.corrupt.append(f"the child did not start: {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
            return kill
        run_dir = Path(line)
        waits = _cpu_waits_until(proc.pid, time.time() + delay)
        kill_time = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # dead but not reaped: a zombie
        kill.status_unreaped = _status(run_dir)
    finally:
        stop(proc)
    kill.status = _status(run_dir)
    clock = np.fromfile(clock_file, dtype="<f8")
    counts = _check_points(run_dir, tags, kill)
    _measure_loss(kill, clock, counts, kill_time, waits)
    if resume and not kill.corrupt:
        kill.resumed = True
        kill.resume_problem = _resume(run_dir, counts)
    return kill


#: Seconds between two samples of the child's wait for a CPU.
SAMPLE_EVERY = 0.004


def _cpu_waits_until(pid: int, until: float) -> list[tuple[float, float]]:
    """Sample ``(time, seconds pid's threads have waited for a CPU so far)`` until ``until``."""
    samples = []
    while True:
        samples.append((time.time(), _cpu_wait(pid)))
        left = until - time.time()
        if left <= 0:
            return samples
        time.sleep(min(SAMPLE_EVERY, left))


def _cpu_wait(pid: int) -> float:
    """Seconds all threads of ``pid`` spent runnable but not running (0 where not measurable)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                total += int(fh.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended, or a kernel without schedstat
    return total / 1e9


def _waited_since(waits: list[tuple[float, float]], since: float) -> float:
    """The wait for a CPU from the first sample at or after ``since`` to the last (strict: the
    wait before that sample is not counted)."""
    for when, waited in waits:
        if when >= since:
            return waits[-1][1] - waited
    return 0.0


def _status(run_dir: Path) -> str:
    try:
        return open_run(run_dir).status
    except Exception as exc:
        return f"unreadable ({short(exc)})"


def _check_points(run_dir: Path, tags: int, kill: Kill) -> list[int]:
    """Points of each tag that read back as the exact prefix 0..n-1 (recording anything else)."""
    counts = []
    try:
        view = open_run(run_dir)
        names = [f"t{j}" for j in range(tags)]
        found = view.scalar_tags
        unknown = sorted(set(found) - set(names))
        if unknown:
            kill.corrupt.append(f"tags that were never logged: {unknown}")
        for j, tag in enumerate(names):
            if tag not in found:
                counts.append(0)
                continue
            steps, values, _ = view.scalars(tag)
            n = len(steps)
            odd = np.flatnonzero(steps != np.arange(n))
            if odd.size:
                kill.corrupt.append(f"{tag}: steps are not 0..{n - 1} (first odd one at {odd[0]})")
                n = int(odd[0])
            wrong = np.flatnonzero(values[:n] != logged_value(j, steps[:n]))
            if wrong.size:
                kill.corrupt.append(f"{tag}: wrong values at steps {steps[wrong[:5]].tolist()}")
            counts.append(n)
        if view.problems:
            kill.corrupt.append(f"problems reported: {view.problems}")
        if view.unreadable:
            kill.corrupt.append(f"unreadable: {view.unreadable}")
    except Exception as exc:
        kill.corrupt.append(f"reading raised {short(exc)}")
        counts = [0] * tags
    kill.persisted = min(counts)
    return counts


def _measure_loss(
    kill: Kill,
    clock: np.ndarray,
    counts: list[int],
    kill_time: float,
    waits: list[tuple[float, float]],
) -> None:
    recorded = np.flatnonzero(clock > 0)
    kill.logged = int(recorded[-1]) * EVERY + 1 if recorded.size else 0
    # Steps 0..c*EVERY were all logged by clock[c]: those of checkpoints older than the window
    # (plus the CPU wait since) must all be readable.
    old = np.flatnonzero(
        (clock > 0) & (clock <= kill_time - kill.window - _waits_after(clock, waits))
    )
    must_have = int(old[-1]) * EVERY + 1 if old.size else 0
    kill.lost_outside = sum(max(0, must_have - n) for n in counts)
    first_lost = min(counts)
    checkpoint = -(-first_lost // EVERY)  # the first checkpoint at or after the first lost step
    if checkpoint < len(clock) and clock[checkpoint] > 0:
        kill.loss_age = max(0.0, kill_time - float(clock[checkpoint]))
        kill.waited = _waited_since(waits, float(clock[checkpoint]))


def _waits_after(clock: np.ndarray, waits: list[tuple[float, float]]) -> np.ndarray:
    """For each clock reading, the child's CPU wait from then until the kill."""
    times = np.array([w[0] for w in waits])
    totals = np.array([w[1] for w in waits])
    at = np.searchsorted(times, clock, side="left")  # the first sample at or after each reading
    after = np.where(at < len(totals), totals[np.minimum(at, len(totals) - 1)], totals[-1])
    return totals[-1] - after


def _resume(run_dir: Path, counts: list[int]) -> str | None:
    """Resume the killed run, log one more point, and say what is wrong with the result."""
    try:
        with labtrack.start_run("crash", run_dir=run_dir) as run:
            run.log_metric("t0", -1.0)  # continues after the last persisted step
        view = open_run(run_dir)
        steps, values, _ = view.scalars("t0")
        n = counts[0]
        problems = []
        if view.status != "completed":
            problems.append(f"status {view.status!r} after the resumed run finished")
        if view.problems:
            problems.append(f"problems {view.problems}")
        if steps.tolist() != list(range(n + 1)):
            problems.append(f"t0 steps after resume are not 0..{n} (got {len(steps)} steps)")
        elif values[:n].tolist() != logged_value(0, steps[:n]).tolist() or values[n] != -1.0:
            problems.append("t0 values changed by the resume")
        for j in range(1, len(counts)):
            if view.scalar_count(f"t{j}") != counts[j]:
                problems.append(f"t{j} had {counts[j]} points, {view.scalar_count(f't{j}')} after")
        return "; ".join(problems) or None
    except Exception as exc:
        return f"resume raised {short(exc)}"


def kill_many(
    root: Path,
    kills: int,
    *,
    tags: int,
    flush_interval: float = 0.1,
    parallel: int = 4,
    seed: int = 0,
    resume_every: int = 5,
    keep_failures: int = 3,
) -> list[Kill]:
    """``kills`` kills at random times (0.05-0.6 s after logging started), ``parallel`` children
    at once (which is also the load), resuming every ``resume_every``-th killed run.

    Each trial's directory is deleted unless it went wrong (the first ``keep_failures`` are kept
    for inspection: a child logging 20 tags in a tight loop writes tens of MB).
    """
    rng = random.Random(seed)
    plans = [(i, rng.uniform(0.05, 0.6)) for i in range(kills)]
    kept = 0
    lock = threading.Lock()

    def one(plan: tuple[int, float]) -> Kill:
        nonlocal kept
        i, delay = plan
        work = root / f"kill-{tags}-{i}"
        resume = resume_every > 0 and i % resume_every == 0
        kill = kill_once(work, tags=tags, flush_interval=flush_interval, delay=delay, resume=resume)
        with lock:
            keep = not kill.ok and kept < keep_failures
            kept += keep
        if keep:
            kill.kept = str(work)
        else:
            shutil.rmtree(work, ignore_errors=True)
        return kill

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(one, plans))


def describe(kill: Kill) -> str:
    """One line about a kill that went wrong, for an assertion message."""
    parts = [f"{kill.tags} tag(s), killed {kill.delay * 1000:.0f} ms after start"]
    if kill.lost_outside:
        parts.append(
            f"lost {kill.lost_outside} point(s) logged more than {kill.window * 1000:.0f} ms "
            f"before the kill (oldest lost ~{kill.loss_age * 1000:.0f} ms, of which "
            f"{kill.waited * 1000:.0f} ms waiting for a CPU; {kill.persisted} of "
            f"~{kill.logged} steps readable)"
        )
    if kill.status != "crashed" or kill.status_unreaped != "crashed":
        parts.append(f"status {kill.status!r} ({kill.status_unreaped!r} before reaping)")
    parts.extend(kill.corrupt)
    if kill.resume_problem:
        parts.append(f"resume: {kill.resume_problem}")
    if kill.kept:
        parts.append(f"kept in {kill.kept}")
    return "; ".join(parts)


def figures(results: list[Kill]) -> list[tuple[str, str]]:
    """The crash-window rows of the soak table."""
    window = max((k.window for k in results), default=0.0)
    by_tags = sorted({k.tags for k in results})
    return [
        ("SIGKILLs", f"{len(results)} ({', '.join(_per_tags(results, t) for t in by_tags)})"),
        ("points lost outside the window", str(sum(k.lost_outside for k in results))),
        (
            "kills that lost points outside the window",
            str(sum(k.lost_outside > 0 for k in results)),
        ),
        ("corrupt stores after a kill", str(sum(bool(k.corrupt) for k in results))),
        ("runs not reading 'crashed'", str(sum(k.status != "crashed" for k in results))),
        (
            "zombies not reading 'crashed'",
            str(sum(k.status_unreaped != "crashed" for k in results)),
        ),
        (
            "resumed after a kill / failed",
            f"{sum(k.resumed for k in results)} / {sum(k.resume_problem is not None for k in results)}",
        ),
        (
            "max loss window observed, ms",
            f"{max((k.loss_age for k in results), default=0) * 1000:.1f}",
        ),
        ("loss window allowed, ms", f"{window * 1000:.0f} + the time waiting for a CPU"),
        (
            "max time a killed writer waited for a CPU in its window, ms",
            f"{max((k.waited for k in results), default=0) * 1000:.1f}",
        ),
    ]


def _per_tags(results: list[Kill], tags: int) -> str:
    n = sum(k.tags == tags for k in results)
    return f"{n} x {tags} tag{'s' if tags > 1 else ''}"


def violations(results: list[Kill]) -> list[str]:
    return [describe(k) for k in results if not k.ok]
