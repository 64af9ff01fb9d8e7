"""Benchmark labtrack's store against MLflow, TensorBoard (tensorboardX) and Aim.

    python bench/bench_store.py            # full run, several minutes
    python bench/bench_store.py --quick    # tiny sizes, a smoke test

Every tool is driven through its public API on the real path (files on disk, read back with the
tool's own reader) in the same process and run, in a fresh temporary directory. Each figure is
the median of repeated runs, with the spread (min-max). Slow tools get fewer repetitions and
smaller workloads (the sizes used are printed). Workloads:

1. one scalar per call in a tight loop: us per call (caller's thread only);
2. 100 keys per step until persisted (includes ``finish()`` / ``close()``): points per second;
3. reading one tag back into numpy, cold reader object: ms; plus bytes on disk per point;
4. filtering runs by a config value: ms (labtrack with and without its catalog, MLflow).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
if SRC.is_dir() and str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import numpy as np
from _common import Result, fmt, table, timed, tree_size

import labtrack

LT, MLF, MLS, TBX, AIM = "labtrack", "MLflow (file)", "MLflow (sqlite)", "TensorBoardX", "Aim"
LR_VALUES = (0.001, 0.003, 0.01, 0.03, 0.1)


@dataclass(frozen=True)
class Sizes:
    reps: int  # labtrack repetitions
    slow_reps: int  # competitor repetitions
    w1_calls: int  # labtrack calls of log_metric
    budget: float  # seconds of calls per competitor repetition (workloads 1 and 2)
    w2_steps: int  # labtrack steps of 100 keys
    w3_big: int  # labtrack points read back
    w3_small: int  # points read back by every tool
    w4_runs: int  # labtrack runs filtered
    w4_mlflow_runs: int  # runs filtered by MLflow and labtrack
    w4_build_reps: int  # times the catalog is built from scratch


FULL = Sizes(5, 3, 1_000_000, 3.0, 10_000, 1_000_000, 20_000, 10_000, 500, 2)
QUICK = Sizes(2, 1, 20_000, 0.2, 200, 20_000, 2_000, 200, 20, 1)


def config_for(i: int) -> dict[str, Any]:
    """20 config keys, mixed types, one nested; ``lr`` cycles through LR_VALUES."""
    cfg: dict[str, Any] = {"lr": LR_VALUES[i % len(LR_VALUES)], "seed": i, "model": f"m{i % 7}"}
    cfg["optimizer"] = {"name": "adam", "beta1": 0.9, "beta2": 0.999}
    for k in range(16):
        cfg[f"k{k:02d}"] = (i * 31 + k) % 97 if k % 2 else f"v{(i + k) % 13}"
    return cfg  # 3 + 1 (nested) + 16 = 20 top-level keys


def _make_runs(args: tuple[str, list[int]]) -> int:
    root, indices = args
    for i in indices:
        run = labtrack.start_run("sweep", name=f"r{i:05d}", config=config_for(i), dir=root)
        run.finish()
    return len(indices)


def quiet_third_parties() -> None:
    warnings.filterwarnings("ignore")
    for name in ("mlflow", "alembic", "aim", "tensorboardX", "absl", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    # MLflow 3.x refuses its file store unless asked; it is still the store many users have.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    os.environ.setdefault("AIM_UI_TELEMETRY_ENABLED", "0")


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Swallow the progress bars some tools print on stdout/stderr."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


# ---------------------------------------------------------------------------- tool adapters


class Bench:
    def __init__(self, sizes: Sizes, tmp: Path, tools: set[str]) -> None:
        self.s = sizes
        self.tmp = tmp
        self.tools = tools
        self.results: list[Result] = []
        self.notes: list[str] = []
        self.failures: list[str] = []
        self._n = 0

    def fresh(self, label: str) -> Path:
        self._n += 1
        path = self.tmp / f"{self._n:03d}-{label}"
        path.mkdir()
        return path

    def add(self, result: Result) -> None:
        self.results.append(result)
        ref = self.ref(result.workload)
        print(
            f"  {result.workload:<38} {result.tool:<16} {fmt(result.median):>10} {result.unit:<9}"
            f" spread {result.spread:<19} {result.vs(ref):>8}  {result.note}",
            flush=True,
        )

    def ref(self, workload: str) -> Result | None:
        for r in self.results:
            if r.workload == workload and r.tool == LT:
                return r
        return None

    def guarded(self, what: str, fn: Callable[[], None]) -> None:
        """A competitor that fails is reported, not fatal: the other figures still count."""
        try:
            fn()
        except Exception as exc:
            msg = f"{what}: {type(exc).__name__}: {exc}"
            self.failures.append(msg)
            print(f"  FAILED {msg}", flush=True)

    def wanted(self, tool: str) -> bool:
        return tool in self.tools

    # ------------------------------------------------------------------ mlflow helpers

    def mlflow_uri(self, kind: str, root: Path) -> str:
        if kind == "file":
            return (root / "mlruns").as_uri()
        return f"sqlite:///{root / 'mlflow.db'}"


def calls(counts: list[int], what: str) -> str:
    lo, hi = min(counts), max(counts)
    return f"{lo:,} {what}" if lo == hi else f"{lo:,}-{hi:,} {what}"


def budget_loop(call: Callable[[int], None], budget: float, chunk: int = 1) -> tuple[int, float]:
    """Call ``call(i)`` until ``budget`` seconds pass; (calls made, seconds)."""
    n = 0
    start = time.perf_counter()
    deadline = start + budget
    while True:
        for _ in range(chunk):
            call(n)
            n += 1
        if time.perf_counter() >= deadline:
            return n, time.perf_counter() - start


# ---------------------------------------------------------------------------- workload 1

W1 = "1. one scalar per call"


def w1_labtrack(b: Bench) -> Path:
    n = b.s.w1_calls
    values = [random.random() for _ in range(n)]
    samples, baseline = [], []
    last_dir = b.tmp
    for _ in range(b.s.reps):
        points: list[tuple[int, float]] = []
        append = points.append
        start = time.perf_counter()
        for i, v in enumerate(values):
            append((i, v))
        baseline.append((time.perf_counter() - start) / n * 1e6)
        del points
        root = b.fresh("w1-lt")
        run = labtrack.start_run("bench", name="w1", dir=root)
        log_metric = run.log_metric
        start = time.perf_counter()
        for v in values:
            log_metric("loss", v)
        samples.append((time.perf_counter() - start) / n * 1e6)
        run.finish()
        last_dir = run.dir
    b.add(Result(W1, LT, "us/call", samples, note=f"{n:,} calls; target <= 1 us"))
    b.add(Result(W1, "list.append", "us/call", baseline, note="baseline: append((step, value))"))
    return last_dir


def w1_mlflow(b: Bench, kind: str) -> None:
    import mlflow

    samples, counts = [], []
    for _ in range(b.s.slow_reps):
        root = b.fresh(f"w1-mlflow-{kind}")
        mlflow.set_tracking_uri(b.mlflow_uri(kind, root))
        mlflow.set_experiment("bench")
        with mlflow.start_run():
            n, secs = budget_loop(lambda i: mlflow.log_metric("loss", 0.5, step=i), b.s.budget)
        samples.append(secs / n * 1e6)
        counts.append(n)
    tool = MLF if kind == "file" else MLS
    b.add(Result(W1, tool, "us/call", samples, note=calls(counts, "calls")))


def w1_tbx(b: Bench) -> None:
    from tensorboardX import SummaryWriter

    samples, counts = [], []
    for _ in range(b.s.slow_reps):
        writer = SummaryWriter(str(b.fresh("w1-tbx")))
        n, secs = budget_loop(lambda i: writer.add_scalar("loss", 0.5, i), b.s.budget, 100)
        writer.close()
        samples.append(secs / n * 1e6)
        counts.append(n)
    b.add(Result(W1, TBX, "us/call", samples, note=calls(counts, "calls")))


def aim_run(root: Path) -> Any:
    import aim

    return aim.Run(
        repo=str(root),
        system_tracking_interval=None,
        log_system_params=False,
        capture_terminal_logs=False,
    )


def w1_aim(b: Bench) -> None:
    samples, counts = [], []
    for _ in range(b.s.slow_reps):
        run = aim_run(b.fresh("w1-aim"))
        n, secs = budget_loop(lambda i: run.track(0.5, name="loss", step=i), b.s.budget, 10)
        run.close()
        samples.append(secs / n * 1e6)
        counts.append(n)
    b.add(Result(W1, AIM, "us/call", samples, note=calls(counts, "calls")))


# ---------------------------------------------------------------------------- workload 2

W2 = "2. 100 keys per step, until persisted"
KEYS = [f"metric_{k:03d}" for k in range(100)]


def step_dicts(steps: int) -> list[dict[str, float]]:
    rows = np.random.default_rng(0).random((steps, len(KEYS)))
    return [dict(zip(KEYS, row.tolist(), strict=True)) for row in rows]


def w2_labtrack(b: Bench) -> None:
    steps = b.s.w2_steps
    dicts = step_dicts(steps)
    samples = []
    for _ in range(b.s.reps):
        run = labtrack.start_run("bench", name="w2", dir=b.fresh("w2-lt"))
        log = run.log
        start = time.perf_counter()
        for s, d in enumerate(dicts):
            log(d, step=s)
        run.finish()
        samples.append(steps * len(KEYS) / (time.perf_counter() - start))
    note = f"{steps:,} steps = {steps * len(KEYS):,} points; target >= 3M/s"
    b.add(Result(W2, LT, "points/s", samples, higher_is_better=True, note=note))


def _w2_budgeted(
    b: Bench,
    tool: str,
    open_: Callable[[], Any],
    step: Callable[[Any, int, dict[str, float]], None],
) -> None:
    dicts = step_dicts(2000)
    samples, counts = [], []
    for _ in range(b.s.slow_reps):
        handle, close = open_()
        n = 0
        start = time.perf_counter()
        deadline = start + b.s.budget
        while time.perf_counter() < deadline or n == 0:
            step(handle, n, dicts[n % len(dicts)])
            n += 1
        close()
        samples.append(n * len(KEYS) / (time.perf_counter() - start))
        counts.append(n)
    note = calls(counts, "steps")
    b.add(Result(W2, tool, "points/s", samples, higher_is_better=True, note=note))


def w2_mlflow(b: Bench, kind: str) -> None:
    import mlflow

    def open_() -> Any:
        mlflow.set_tracking_uri(b.mlflow_uri(kind, b.fresh(f"w2-mlflow-{kind}")))
        mlflow.set_experiment("bench")
        mlflow.start_run()
        return None, mlflow.end_run

    def step(_h: Any, s: int, d: dict[str, float]) -> None:
        mlflow.log_metrics(d, step=s)

    _w2_budgeted(b, MLF if kind == "file" else MLS, open_, step)


def w2_tbx(b: Bench) -> None:
    from tensorboardX import SummaryWriter

    def open_() -> Any:
        writer = SummaryWriter(str(b.fresh("w2-tbx")))

        def close() -> None:
            writer.flush()
            writer.close()

        return writer, close

    def step(writer: Any, s: int, d: dict[str, float]) -> None:
        add = writer.add_scalar
        for k, v in d.items():
            add(k, v, s)

    _w2_budgeted(b, TBX, open_, step)


def w2_aim(b: Bench) -> None:
    def open_() -> Any:
        run = aim_run(b.fresh("w2-aim"))
        return run, run.close

    def step(run: Any, s: int, d: dict[str, float]) -> None:
        run.track(d, step=s)

    _w2_budgeted(b, AIM, open_, step)


# ---------------------------------------------------------------------------- workload 3

W3 = "3. read one tag into numpy"
W3B = "3b. bytes on disk per point"


def w3_labtrack(b: Bench, big_dir: Path | None) -> None:
    # The 1M-point run of workload 1 when its size matches; otherwise write one.
    n_big = b.s.w3_big
    if big_dir is None or b.s.w1_calls != n_big:
        run = labtrack.start_run("bench", name="w3", dir=b.fresh("w3-lt-big"))
        for v in np.random.default_rng(1).random(n_big).tolist():
            run.log_metric("loss", v)
        run.finish()
        big_dir = run.dir
    _w3_labtrack_read(b, big_dir, n_big, f"{n_big:,} points; target <= 50 ms")

    n = b.s.w3_small
    run = labtrack.start_run("bench", name="w3-small", dir=b.fresh("w3-lt-small"))
    for i, v in enumerate(np.random.default_rng(2).random(n).tolist()):
        run.log_metric("loss", v, step=i)
    run.finish()
    _w3_labtrack_read(b, run.dir, n, f"{n:,} points (like for like)")


def _w3_labtrack_read(b: Bench, run_dir: Path, n: int, note: str) -> None:
    samples = []
    for _ in range(b.s.reps):
        start = time.perf_counter()
        scalars = labtrack.Store(run_dir).run(run_dir).scalars("loss")
        samples.append((time.perf_counter() - start) * 1e3)
        if len(scalars.values) != n:
            raise AssertionError(f"labtrack read {len(scalars.values)} points, wrote {n}")
    workload = W3 if n == b.s.w3_small else f"{W3} ({n:,})"
    b.add(Result(workload, LT, "ms", samples, note=note))
    size = (run_dir / ".labtrack" / "data.ltr").stat().st_size
    target = "; target <= 16" if n != b.s.w3_small else ""
    label = W3B if n == b.s.w3_small else f"{W3B} ({n:,})"
    b.add(Result(label, LT, "bytes", [size / n], note=f"data.ltr {size:,} B{target}"))


def _w3_record(
    b: Bench, tool: str, n: int, written: int, read: Callable[[], np.ndarray], extra: str = ""
) -> None:
    samples = []
    for _ in range(b.s.slow_reps):
        start = time.perf_counter()
        with silenced():
            values = read()
        samples.append((time.perf_counter() - start) * 1e3)
        if len(values) != n:
            raise AssertionError(f"{tool} read {len(values)} points, wrote {n}")
    b.add(Result(W3, tool, "ms", samples, note=f"{n:,} points{extra}"))
    b.add(Result(W3B, tool, "bytes", [written / n], note=f"{written:,} B"))


def w3_mlflow(b: Bench, kind: str) -> None:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    n = b.s.w3_small
    root = b.fresh(f"w3-mlflow-{kind}")
    uri = b.mlflow_uri(kind, root)
    client = MlflowClient(uri)
    exp = client.create_experiment("bench")
    run_id = client.create_run(exp).info.run_id
    before = tree_size(root)
    values = np.random.default_rng(2).random(n).tolist()
    now = int(time.time() * 1000)
    for lo in range(0, n, 1000):  # log_batch takes at most 1000 metrics
        batch = [Metric("loss", values[i], now, i) for i in range(lo, min(n, lo + 1000))]
        client.log_batch(run_id, metrics=batch)
    client.set_terminated(run_id)
    written = tree_size(root) - before
    del mlflow

    def read() -> np.ndarray:
        history = MlflowClient(uri).get_metric_history(run_id, "loss")
        return np.array([m.value for m in history], dtype=np.float64)

    _w3_record(b, MLF if kind == "file" else MLS, n, written, read)


def w3_tbx(b: Bench) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboardX import SummaryWriter

    n = b.s.w3_small
    root = b.fresh("w3-tbx")
    writer = SummaryWriter(str(root))
    for i, v in enumerate(np.random.default_rng(2).random(n).tolist()):
        writer.add_scalar("loss", v, i)
    writer.close()
    written = tree_size(root)

    def read() -> np.ndarray:
        acc = EventAccumulator(str(root), size_guidance={"scalars": 0})
        acc.Reload()
        return np.array([e.value for e in acc.Scalars("loss")], dtype=np.float64)

    _w3_record(b, TBX, n, written, read)


def w3_aim(b: Bench) -> None:
    import aim

    n = b.s.w3_small
    root = b.fresh("w3-aim")
    run = aim_run(root)
    before = tree_size(root)
    for i, v in enumerate(np.random.default_rng(2).random(n).tolist()):
        run.track(v, name="loss", step=i)
    run.close()
    del run
    written = tree_size(root) - before
    # Aim's query API only sees runs present in its index; a run closed moments ago is not
    # there yet, so re-index first (timed apart, not part of the read figure).
    aim_cli = shutil.which("aim") or "aim"
    reindex = timed(
        lambda: subprocess.run(
            [aim_cli, "storage", "--repo", str(root), "reindex", "-y"],
            check=True,
            capture_output=True,
        )
    )

    def read() -> np.ndarray:
        repo = aim.Repo(str(root))
        out = [
            metric.values.sparse_numpy()[1]
            for metric in repo.query_metrics("metric.name == 'loss'", report_mode=0).iter()
        ]
        repo.close()
        return np.concatenate(out) if out else np.zeros(0)

    _w3_record(b, AIM, n, written, read, extra=f"; after a {reindex:.1f} s re-index")


# ---------------------------------------------------------------------------- workload 4

W4 = "4. filter runs where config.lr == 0.01"


def create_labtrack_runs(root: Path, n: int, processes: int) -> float:
    chunks = [list(range(p, n, processes)) for p in range(processes)]
    start = time.perf_counter()
    if processes == 1:
        _make_runs((str(root), chunks[0]))
    else:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            made = sum(pool.map(_make_runs, [(str(root), c) for c in chunks]))
            # Let the workers exit normally: the pool's __exit__ would SIGTERM them.
            pool.close()
            pool.join()
        if made != n:
            raise AssertionError(f"created {made} runs, wanted {n}")
    return time.perf_counter() - start


def expected_matches(n: int) -> int:
    return sum(1 for i in range(n) if config_for(i)["lr"] == 0.01)


def _lt_filter(root: Path, catalog: bool) -> int:
    return len(labtrack.Store(root, catalog=catalog).runs(where={"config.lr": 0.01}))


def w4_labtrack(b: Bench, n: int, label: str, processes: int) -> None:
    root = b.fresh(f"w4-lt-{n}")
    made = create_labtrack_runs(root, n, processes)
    expected = expected_matches(n)
    b.notes.append(
        f"Workload 4: created {n:,} labtrack runs with start_run + finish in {made:.1f} s "
        f"({processes} process(es)); {expected:,} match."
    )
    catalog = root / ".labtrack-catalog.sqlite"

    def check(count: int) -> None:
        if count != expected:
            raise AssertionError(f"labtrack matched {count} runs, expected {expected}")

    build = []
    for _ in range(b.s.w4_build_reps):
        catalog.unlink(missing_ok=True)
        start = time.perf_counter()
        check(_lt_filter(root, True))
        build.append((time.perf_counter() - start) * 1e3)
    warm, bare = [], []
    for _ in range(b.s.reps):
        start = time.perf_counter()
        check(_lt_filter(root, True))
        warm.append((time.perf_counter() - start) * 1e3)
    for _ in range(max(1, min(b.s.reps, 3))):
        start = time.perf_counter()
        check(_lt_filter(root, False))
        bare.append((time.perf_counter() - start) * 1e3)
    target = "; target <= 200 ms" if n == b.s.w4_runs else ""
    workload = f"{W4} ({label})"
    b.add(Result(workload, LT, "ms", warm, note=f"{n:,} runs, catalog{target}"))
    b.add(Result(workload, "labtrack, no catalog", "ms", bare, note="catalog=False"))
    b.add(Result(workload, "labtrack, 1st query", "ms", build, note="builds the catalog"))


def w4_mlflow(b: Bench, kind: str) -> None:
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    n = b.s.w4_mlflow_runs
    root = b.fresh(f"w4-mlflow-{kind}")
    uri = b.mlflow_uri(kind, root)
    client = MlflowClient(uri)
    exp = client.create_experiment("sweep")
    start = time.perf_counter()
    for i in range(n):
        run_id = client.create_run(exp, run_name=f"r{i:05d}").info.run_id
        flat = _flatten(config_for(i))
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in flat.items()])
        client.set_terminated(run_id)
    made = time.perf_counter() - start
    b.notes.append(f"Workload 4: created {n:,} {kind} MLflow runs in {made:.1f} s.")
    expected = expected_matches(n)
    samples = []
    for _ in range(b.s.slow_reps):
        start = time.perf_counter()
        found = MlflowClient(uri).search_runs(
            [exp], filter_string="params.lr = '0.01'", max_results=max(1000, n)
        )
        samples.append((time.perf_counter() - start) * 1e3)
        if len(found) != expected:
            raise AssertionError(f"MLflow matched {len(found)} runs, expected {expected}")
    tool = MLF if kind == "file" else MLS
    b.add(Result(f"{W4} ({n:,} runs)", tool, "ms", samples, note=f"{n:,} runs, search_runs"))


def _flatten(cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# ---------------------------------------------------------------------------- report


def summary(b: Bench, command: str) -> str:
    tools = [LT, MLF, MLS, TBX, AIM]

    def cell(workload: str, tool: str) -> str:
        for r in b.results:
            if r.workload == workload and r.tool == tool:
                ratio = r.vs(b.ref(workload))
                return f"{fmt(r.median)}" + (f" ({ratio})" if ratio else "")
        return "-"

    def find(prefix: str, tool: str) -> str:
        for r in b.results:
            if r.workload.startswith(prefix) and r.tool == tool:
                return fmt(r.median)
        return "-"

    s = b.s
    w4_big = f"{W4} (catalog)"
    w4_small = f"{W4} ({s.w4_mlflow_runs:,} runs)"
    rows = [
        ["One scalar per call, us", W1, "<= 1"],
        [
            f"100 keys x steps until persisted, points/s ({s.w2_steps:,} steps for labtrack)",
            W2,
            ">= 3M",
        ],
        [f"Read one {s.w3_small:,}-point tag into numpy, ms", W3, ""],
        [f"Bytes on disk per point ({s.w3_small:,} points)", W3B, "<= 16"],
        [f"Filter {s.w4_mlflow_runs:,} runs by config.lr, ms", w4_small, ""],
    ]
    body = [[label, *(cell(w, t) for t in tools), target] for label, w, target in rows]
    lt_only = [
        [f"Read one {s.w3_big:,}-point tag into numpy, ms", find(f"{W3} (", LT), "<= 50"],
        [f"Bytes on disk per point ({s.w3_big:,} points)", find(f"{W3B} (", LT), "<= 16"],
        [f"Filter {s.w4_runs:,} runs by config.lr, catalog, ms", cell(w4_big, LT), "<= 200"],
        ["... without the catalog, ms", cell(w4_big, "labtrack, no catalog"), ""],
        ["... first query (builds the catalog), ms", cell(w4_big, "labtrack, 1st query"), ""],
        ["Python list.append of the point, us", cell(W1, "list.append"), ""],
    ]
    out = [
        f"Command: `{command}` (medians; in parentheses: times slower than labtrack)",
        "",
        table(["Workload", *tools, "labtrack target"], body),
        "",
        table(["labtrack alone", "median", "target"], lt_only),
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument(
        "--tools",
        default="labtrack,mlflow-file,mlflow-sqlite,tensorboardx,aim",
        help="comma-separated subset of: labtrack,mlflow-file,mlflow-sqlite,tensorboardx,aim",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    tools = {t.strip() for t in args.tools.split(",") if t.strip()}
    known = {"labtrack", "mlflow-file", "mlflow-sqlite", "tensorboardx", "aim"}
    if tools - known:
        parser.error(f"--tools: unknown {sorted(tools - known)}; choose from {sorted(known)}")
    quiet_third_parties()
    random.seed(0)
    tmp = Path(tempfile.mkdtemp(prefix="labtrack-bench-"))
    # start_run records the git state of the working directory: keep it out of any checkout.
    old_cwd = os.getcwd()
    os.chdir(tmp)
    b = Bench(sizes, tmp, tools)
    command = "python bench/bench_store.py" + (" --quick" if args.quick else "")
    print(f"labtrack store benchmark: {command}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, temp dir {tmp}")
    print(f"sizes: {sizes}\n")
    try:
        run_all(b)
    finally:
        os.chdir(old_cwd)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    rows = [
        [r.workload, r.tool, f"{fmt(r.median)} {r.unit}", r.spread, r.vs(b.ref(r.workload)), r.note]
        for r in b.results
    ]
    print(table(["workload", "tool", "median", "spread", "vs labtrack", "notes"], rows))
    print()
    for note in b.notes:
        print(note)
    for failure in b.failures:
        print(f"FAILED {failure}")
    print("\n## Summary (Markdown)\n")
    print(summary(b, command))
    lt_failed = [f for f in b.failures if f.startswith("labtrack")]
    return 1 if lt_failed else 0


def run_all(b: Bench) -> None:
    mlflow_kinds = [k for k in ("file", "sqlite") if b.wanted(f"mlflow-{k}")]
    s = b.s

    print(f"{W1}")
    big_dir: Path | None = None
    if b.wanted("labtrack"):
        big_dir = w1_labtrack(b)
    for kind in mlflow_kinds:
        b.guarded(f"MLflow {kind} workload 1", lambda k=kind: w1_mlflow(b, k))
    if b.wanted("tensorboardx"):
        b.guarded("TensorBoardX workload 1", lambda: w1_tbx(b))
    if b.wanted("aim"):
        b.guarded("Aim workload 1", lambda: w1_aim(b))

    print(f"\n{W2}")
    if b.wanted("labtrack"):
        w2_labtrack(b)
    for kind in mlflow_kinds:
        b.guarded(f"MLflow {kind} workload 2", lambda k=kind: w2_mlflow(b, k))
    if b.wanted("tensorboardx"):
        b.guarded("TensorBoardX workload 2", lambda: w2_tbx(b))
    if b.wanted("aim"):
        b.guarded("Aim workload 2", lambda: w2_aim(b))

    print(f"\n{W3}")
    if b.wanted("labtrack"):
        w3_labtrack(b, big_dir)
    for kind in mlflow_kinds:
        b.guarded(f"MLflow {kind} workload 3", lambda k=kind: w3_mlflow(b, k))
    if b.wanted("tensorboardx"):
        b.guarded("TensorBoardX workload 3", lambda: w3_tbx(b))
    if b.wanted("aim"):
        b.guarded("Aim workload 3", lambda: w3_aim(b))

    print(f"\n{W4}")
    if b.wanted("labtrack"):
        w4_labtrack(b, s.w4_runs, "catalog", processes=2)
        w4_labtrack(b, s.w4_mlflow_runs, f"{s.w4_mlflow_runs:,} runs", processes=1)
    for kind in mlflow_kinds:
        b.guarded(f"MLflow {kind} workload 4", lambda k=kind: w4_mlflow(b, k))


if __name__ == "__main__":
    sys.exit(main())
