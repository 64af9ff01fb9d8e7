"""Concurrency: many writer processes into one store, reader processes polling while they write.

The guarantee (issue 9): with every writer its own run in one store and readers polling
``Store(dir).runs()`` and ``scalars()`` meanwhile, readers never raise, never see a value that was
not logged, never see anything but a prefix of each series (nor one shorter than they saw
before), and at the end every run is ``completed`` with all its points exact.

Readers come in two kinds: ``fresh`` asks a new ``Store`` for new views on every poll (a script
run again and again); ``keep`` keeps one ``Store`` and one view per run and refreshes it (the
viewer's way: incremental reads of a growing file, a catalog kept up to date).
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labtrack import Store
from labtrack.store import RunView

from ._harness import Lines, short, spawn_helper, spawn_script, stop

#: Steps between two text entries (and two short sleeps) in a writer.
TEXT_EVERY = 500

WRITER = """
import sys, time
import labtrack

worker, steps = int(sys.argv[1]), int(sys.argv[2])
config = {"worker": worker}
with labtrack.start_run("concurrent", name=f"w{worker}", dir="store", config=config) as run:
    for step in range(steps):
        run.log({"loss": step * 0.5 + worker, "acc": worker + step / 1024}, step=step)
        if step % 500 == 0:
            run.log_text("progress", f"w{worker} step {step}")
            time.sleep(0.01)
"""


def logged(worker: int, tag: str, steps: np.ndarray) -> np.ndarray:
    """What writer ``worker`` logs for ``tag`` at ``steps``."""
    if tag == "loss":
        return steps * 0.5 + worker
    return worker + steps / 1024


def check_view(view: RunView, *, running_ok: bool, seen: dict[tuple[str, str], int]) -> list[str]:
    """What is wrong with one run as read now (``seen``: the longest series read before)."""
    wrong: list[str] = []
    where = f"run {view.name}"
    if view.unreadable:
        return [f"{where}: unreadable while being written: {view.unreadable}"]
    allowed = ("running", "completed") if running_ok else ("completed",)
    if view.status not in allowed:
        # No writer is ever killed here: any other status (crashed above all) is a false one.
        wrong.append(f"{where}: status {view.status!r}, but its writer ran and finished normally")
    worker = view.config.get("worker")
    if not isinstance(worker, int):
        return [*wrong, f"{where}: config lost its worker: {view.config}"]
    for tag in view.scalar_tags:
        if tag not in ("loss", "acc"):
            wrong.append(f"{where}: a tag that was never logged: {tag!r}")
            continue
        steps, values, _ = view.scalars(tag)
        n = len(steps)
        if not np.array_equal(steps, np.arange(n)):
            wrong.append(f"{where}: {tag} steps are not a prefix 0..{n - 1}")
        elif not np.array_equal(values, logged(worker, tag, steps)):
            bad = np.flatnonzero(values != logged(worker, tag, steps))
            wrong.append(
                f"{where}: {tag} has values never logged at steps {steps[bad[:5]].tolist()}"
            )
        key = (view.id, tag)
        if n < seen.get(key, 0):
            wrong.append(f"{where}: {tag} shrank from {seen[key]} to {n} points")
        seen[key] = max(n, seen.get(key, 0))
    if "progress" in view.text_tags:
        for i, entry in enumerate(view.text("progress")):
            if entry.step != i or entry.text != f"w{worker} step {i * TEXT_EVERY}":
                wrong.append(f"{where}: text entry {i} is {entry}")
                break
    if view.problems:
        wrong.append(f"{where}: damage reported in a healthy run: {view.problems}")
    return wrong


def main(args: list[str]) -> None:
    """A reader process: poll the store until the stop file appears (then once more), and print
    a JSON report: polls, whether a running run was seen, and everything that went wrong."""
    store_dir, stop_file, mode = Path(args[0]), Path(args[1]), args[2]
    store = Store(store_dir)
    kept: dict[str, RunView] = {}
    seen: dict[tuple[str, str], int] = {}
    report: dict[str, Any] = {"polls": 0, "saw_running": False, "points": 0, "wrong": [], "n": 0}
    print("ready", flush=True)
    while True:
        last = stop_file.exists()
        points = 0
        try:
            listing = (store if mode == "keep" else Store(store_dir)).runs()
            for view in listing:
                if mode == "keep":
                    view = kept.setdefault(str(view.dir), view).refresh()
                report["saw_running"] |= view.status == "running"
                wrong = check_view(view, running_ok=not last, seen=seen)
                report["wrong"].extend(wrong)
                report["n"] += len(wrong)
                points += sum(view.scalar_count(tag) for tag in view.scalar_tags)
        except Exception as exc:
            report["wrong"].append(f"raised {short(exc)}: {traceback.format_exc(limit=-3)}")
            report["n"] += 1
        report["polls"] += 1
        report["points"] = max(report["points"], points)
        del report["wrong"][50:]  # examples; "n" counts them all
        if last:
            break
        time.sleep(0.02)
    print(json.dumps(report), flush=True)


@dataclass
class Concurrency:
    writers: int
    readers: int
    steps: int
    seconds: float = 0.0
    polls: int = 0
    saw_running: bool = False
    reader_wrong: list[str] = field(default_factory=list)  # what readers saw while writing
    reader_wrong_count: int = 0  # all of it (reader_wrong keeps up to 50 per reader)
    writer_failures: list[str] = field(default_factory=list)
    final_wrong: list[str] = field(default_factory=list)  # what is wrong once all are done

    @property
    def ok(self) -> bool:
        return not (self.reader_wrong or self.writer_failures or self.final_wrong)


def run_concurrently(
    root: Path, *, writers: int = 32, readers: int = 2, steps: int = 10_000
) -> Concurrency:
    """``writers`` writer processes (``steps`` steps of two tags each, text every
    :data:`TEXT_EVERY`) into ``root/store`` while ``readers`` reader processes poll it."""
    started = time.monotonic()
    result = Concurrency(writers=writers, readers=readers, steps=steps)
    store_dir = root / "store"
    store_dir.mkdir(parents=True)
    stop_file = root / "stop"
    reader_procs = [
        spawn_helper(
            "_writers",
            [str(store_dir), str(stop_file), "fresh" if i % 2 == 0 else "keep"],
            root,
            stderr=root / f"reader-{i}.err",
        )
        for i in range(readers)
    ]
    lines = [Lines(proc) for proc in reader_procs]
    try:
        for proc, out in zip(reader_procs, lines):
            if out.next(timeout=120) != "ready":
                result.reader_wrong.append(f"reader {proc.pid} did not start")
                result.reader_wrong_count += 1
        writer_procs = [spawn_script(WRITER, root, [str(i), str(steps)]) for i in range(writers)]
        for i, proc in enumerate(writer_procs):
            try:
                _, err = proc.communicate(timeout=600)
            except Exception:
                stop(proc)
                err = "timed out"
            if proc.returncode != 0:
                result.writer_failures.append(f"writer {i} exited {proc.returncode}: {err[-1500:]}")
        stop_file.touch()
        for proc, out in zip(reader_procs, lines):
            line = out.next(timeout=300)
            if not line:
                result.reader_wrong.append(f"reader {proc.pid} ended without a report")
                result.reader_wrong_count += 1
                continue
            report = json.loads(line)
            result.polls += report["polls"]
            result.saw_running |= report["saw_running"]
            result.reader_wrong.extend(report["wrong"])
            result.reader_wrong_count += report["n"]
    finally:
        for proc in reader_procs:
            stop(proc)
    result.final_wrong = _final_check(store_dir, writers, steps)
    result.seconds = time.monotonic() - started
    return result


def _final_check(store_dir: Path, writers: int, steps: int) -> list[str]:
    try:
        views = Store(store_dir).runs(experiment="concurrent")
        wrong = [] if len(views) == writers else [f"{len(views)} runs listed, {writers} written"]
        seen: dict[tuple[str, str], int] = {}
        for view in views:
            wrong.extend(check_view(view, running_ok=False, seen=seen))
            for tag in ("loss", "acc"):
                if view.scalar_count(tag) != steps:
                    wrong.append(f"run {view.name}: {tag} has {view.scalar_count(tag)} of {steps}")
            texts = len(view.text("progress")) if "progress" in view.text_tags else 0
            if texts != -(-steps // TEXT_EVERY):
                wrong.append(f"run {view.name}: {texts} text entries")
        return wrong
    except Exception as exc:
        return [f"reading the finished store raised {short(exc)}"]


def figures(result: Concurrency) -> list[tuple[str, str]]:
    """The concurrency rows of the soak table."""
    return [
        ("writer processes / reader processes", f"{result.writers} / {result.readers}"),
        ("points per writer", f"{2 * result.steps:,}"),
        ("reader polls (saw a running run)", f"{result.polls} ({result.saw_running})"),
        ("reader errors or wrong reads", str(result.reader_wrong_count)),
        ("writer failures", str(len(result.writer_failures))),
        ("runs wrong at the end", str(len(result.final_wrong))),
    ]


def violations(result: Concurrency) -> list[str]:
    found = [*result.writer_failures, *result.reader_wrong, *result.final_wrong]
    if not result.saw_running:
        found.append("no reader poll overlapped a running writer: the check checked nothing")
    return found
