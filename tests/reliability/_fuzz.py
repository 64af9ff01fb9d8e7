"""Corruption fuzz: damage one run's files in every way a disk, a copy or a person can, then read.

The guarantee (issue 9): reading a store that holds a damaged run (``Store.runs()``, every
property of every view, every tag's scalars and text, ``to_pandas``) raises nothing but the
documented errors (``KeyError`` for a tag that is not there, :class:`~labtrack.errors.StoreError`
and its subclasses), never hangs, reads the intact runs beside it exactly, and never returns a
wrong value: every point returned is one that was logged (a checksum protects every record), and
whatever is missing, changed or unverifiable is reported in ``view.problems`` or
``view.unreadable``, never returned silently. Resuming a damaged run never makes its data file
lose anything but a torn tail: the bytes up to the last record that is still intact are unchanged.

How it runs. A few reference runs are made once (several tags through ``log`` and ``log_metric``,
uneven steps, text, a summary, a resumed second segment); what they read back intact is the
truth. Each mutation copies them into a fresh store, damages one (see :data:`KINDS`), reads
everything, resumes the damaged run and reads it again. Mutations are numbered and derived from
``(seed, number)`` alone, so any one can be replayed. Worker processes do the work and report
each mutation as a JSON line; the parent kills a worker that takes longer than the time limit
on one mutation (a hang) and starts another for the rest. Workers cap their address space, so a
corrupt length that makes a reader allocate terabytes fails fast instead of swapping.

Where record boundaries are. The fuzz must not trust the reader it tests, nor know the file
format (which is changing), to say which records a mutation left intact. The reference runs
record the data file's size after every flush (each flush appends whole records), and the
original bytes are kept: a chunk between two such sizes is intact when its bytes are unchanged.
"""

from __future__ import annotations

import itertools
import json
import random
import resource
import shutil
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import labtrack
from labtrack import Store
from labtrack.errors import StoreError
from labtrack.store import RunView, open_run

from ._harness import Lines, short, spawn_helper, stop

DATA_KINDS = ("data_bitflip", "data_header", "data_truncate", "data_append", "data_overwrite")
META_KINDS = ("meta_bitflip", "meta_truncate", "meta_garbage", "meta_wrong_type")
#: Mutation kinds, used in turn (mutation ``i`` is of kind ``KINDS[i % len(KINDS)]``).
KINDS = DATA_KINDS + META_KINDS

#: Metadata fields set to a value of the wrong type (then written back as valid JSON).
WRONG_TYPES: tuple[tuple[str, Any], ...] = (
    ("start_time", "yesterday"),
    ("start_time", [1]),
    ("end_time", "tomorrow"),
    ("end_time", {"t": 1}),
    ("heartbeat", "x"),
    ("metrics", []),
    ("metrics", "m"),
    ("metrics", {"loss": 3}),
    ("metrics", {"loss": {"last": "x", "count": "many"}}),
    ("config", "s"),
    ("config", [1, 2]),
    ("status", 3),
    ("status", None),
    ("status", ["completed"]),
    ("params", "p"),
    ("tags", "t"),
    ("tags", [1, 2]),
    ("summary", []),
    ("summary", "s"),
    ("resumed", "r"),
    ("resumed", [1]),
    ("pid", "p"),
    ("pid", 1.5),
    ("pid_start", "x"),
    ("host", 5),
    ("name", 7),
    ("name", None),
    ("experiment", ["e"]),
    ("id", 5),
    ("id", None),
    ("error", "x"),
    ("error", [1]),
    ("git", 5),
    ("format", "x"),
)

#: Properties read from every view; those in COMPARED must equal the reference's when no damage
#: is reported.
PROPS = (
    "id", "name", "experiment", "status", "config", "params", "tags", "metrics", "summary",
    "start_time", "end_time", "duration", "error", "host", "pid", "git", "meta",
)  # fmt: skip
COMPARED = (
    "id", "name", "experiment", "status", "config", "params", "tags", "metrics", "summary",
    "start_time", "end_time", "error", "host", "pid", "git",
)  # fmt: skip

#: What the resume of a damaged run logs (a step beyond every reference step, a new tag, text).
PROBE_STEP = 1_000_000
PROBE = {"loss": {PROBE_STEP: -1.0}, "probe": {0: 777.0}}
PROBE_TEXT = "probe"

_MISSING = object()


# ---------------------------------------------------------------------------- reference runs


def make_references(root: Path, n: int = 3) -> Path:
    """Make ``n`` reference runs under ``root/ref`` and write what they read back intact (and
    their flush boundaries) to ``root/reference.json``; returns that file."""
    store = root / "ref"
    runs = []
    for r in range(n):
        run_dir, cuts = _reference_run(store, r)
        runs.append({"rel": str(run_dir.relative_to(store)), "cuts": cuts, **_truth(run_dir, r)})
    path = root / "reference.json"
    path.write_text(json.dumps({"store": str(store), "runs": runs}))
    return path


def _reference_run(store: Path, r: int) -> tuple[Path, list[int]]:
    config = {"seed": r, "lr": 0.01 * (r + 1), "model": {"layers": [64, 64], "act": "relu"}}
    cuts = [0]

    def cut(run: labtrack.Run) -> None:
        run.flush()
        data = run.dir / ".labtrack" / "data.ltr"
        cuts.append(data.stat().st_size if data.exists() else 0)

    def segment(run: labtrack.Run, steps: range) -> None:
        for step in steps:
            run.log({"loss": 1.0 / (step + 1) + r, "acc": step / 64 + r}, step=step)
            run.log_metric("lr", 0.01 * 0.9**step)  # automatic steps, continued by the resume
            if step % 7 == 0:
                run.log_metric("sparse", float(step * 3 + r), step=step * step)  # uneven steps
            if step % 10 == 9:
                run.log_text("notes", f"ref{r} step {step}: café ✓")
                cut(run)

    # flush_interval: only the explicit flushes write, so every recorded size is a boundary.
    with labtrack.start_run(
        "fuzz", name=f"ref{r}", dir=store, config=config, tags={"kind": "ref"}, flush_interval=60
    ) as run:
        cut(run)
        run.log_params({"seed": r})
        segment(run, range(60))
        run.summary["best"] = 0.25 + r
    cut_after = run.dir / ".labtrack" / "data.ltr"
    cuts.append(cut_after.stat().st_size)
    with labtrack.start_run("fuzz", run_dir=run.dir, flush_interval=60) as again:
        segment(again, range(60, 90))
        again.log_text("notes", "resumed")
    cuts.append(cut_after.stat().st_size)
    return run.dir, sorted(set(cuts))


def _truth(run_dir: Path, r: int) -> dict[str, Any]:
    """What a reference run reads back, checked against what was logged (the fuzz is only as
    good as its reference: if the intact runs do not read right, stop here)."""
    view = open_run(run_dir)
    scalars = {
        tag: [list(p) for p in zip(*(a.tolist() for a in view.scalars(tag)))]
        for tag in view.scalar_tags
    }
    text = {tag: [[e.step, e.wall_time, e.text] for e in view.text(tag)] for tag in view.text_tags}
    wrong = []
    if view.status != "completed" or view.problems or view.unreadable:
        wrong.append(f"status {view.status}, problems {view.problems}, {view.unreadable}")
    if sorted(scalars) != ["acc", "loss", "lr", "sparse"] or sorted(text) != ["notes"]:
        wrong.append(f"tags {sorted(scalars)}, text tags {sorted(text)}")
    elif [p[:2] for p in scalars["loss"]] != [[s, 1.0 / (s + 1) + r] for s in range(90)]:
        wrong.append("loss does not read back as logged")
    elif [p[0] for p in scalars["lr"]] != list(range(90)) or len(text["notes"]) != 10:
        wrong.append("lr steps or notes do not read back as logged")
    if wrong:
        raise RuntimeError(f"reference run {run_dir} does not read back intact: {wrong}")
    props = {name: _plain(getattr(view, name)) for name in COMPARED}
    return {"scalars": scalars, "text": text, "props": props}


def _plain(value: Any) -> Any:
    """A property value as JSON would carry it (so reference and reading compare equal)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return repr(value)


# ---------------------------------------------------------------------------- mutations


def mutate(run_dir: Path, kind: str, rng: random.Random, cuts: list[int]) -> str:
    """Damage ``run_dir`` in one way of ``kind``; returns what was done, to replay or report.

    ``cuts`` are the data file's flush boundaries. ``data_header`` changes one of the first 12
    bytes after one (where a record header is: its marker, kind, length, checksum); half the
    data bit flips and overwrites land near one too, and a quarter of the truncations exactly on
    one (a file that looks whole, only shorter).
    """
    data = kind.startswith("data")
    target = run_dir / ".labtrack" / ("data.ltr" if data else "meta.json")
    raw = bytearray(target.read_bytes())
    size = len(raw)
    heads = [c for c in cuts if c < size]

    def offset() -> int:
        if data and heads and rng.random() < 0.5:
            return min(size - 1, rng.choice(heads) + rng.randrange(16))
        return rng.randrange(size)

    if kind == "meta_wrong_type":
        doc, trailer = _parse_json_prefix(bytes(raw))
        key, value = rng.choice(WRONG_TYPES)
        doc[key] = value
        target.write_bytes(json.dumps(doc, indent=1).encode() + trailer)
        return f"{target.name}: {key} = {json.dumps(value)}"
    if kind == "data_header":  # one byte of the first record after a boundary: its header
        at = min(size - 1, rng.choice(heads or [0]) + rng.randrange(12))
        raw[at] = (raw[at] + rng.randrange(1, 256)) % 256
        detail = f"changed byte {at} of {size} to {raw[at]}"
    elif kind.endswith("bitflip"):
        flips = [(offset(), rng.randrange(8)) for _ in range(rng.choice((1, 1, 2, 3)))]
        for at, bit in flips:
            raw[at] ^= 1 << bit
        detail = "flipped bit(s) " + ", ".join(f"{o}:{b}" for o, b in flips)
    elif kind.endswith("truncate"):
        whole = [c for c in heads if c > 0]
        cut = rng.choice(whole) if data and whole and rng.random() < 0.25 else rng.randrange(size)
        del raw[cut:]
        detail = f"truncated at {cut} of {size}"
    elif kind == "data_append" or (kind == "meta_garbage" and rng.random() < 0.5):
        junk = _garbage(rng, rng.randint(1, 256))
        raw += junk
        detail = f"appended {len(junk)} byte(s) of garbage"
    else:  # data_overwrite, meta_garbage: overwrite in place, same length
        at = offset()
        junk = _garbage(rng, rng.randint(1, 64))[: size - at]
        raw[at : at + len(junk)] = junk
        detail = f"overwrote {len(junk)} byte(s) at {at} of {size}"
    target.write_bytes(bytes(raw))
    return f"{target.name}: {detail}"


def _garbage(rng: random.Random, n: int) -> bytes:
    junk = bytes(rng.randrange(256) for _ in range(n))
    # A third of it starts like a record, to tempt a reader that resynchronises on the marker.
    return (b"LT" + junk)[:n] if rng.random() < 1 / 3 else junk


def _parse_json_prefix(raw: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON document at the start of a metadata file, and whatever follows it (kept as is,
    in case the format puts a checksum there)."""
    text = raw.decode()
    doc, end = json.JSONDecoder().raw_decode(text)
    return doc, text[end:].encode()


# ---------------------------------------------------------------------------- reading and judging


@dataclass
class Seen:
    """Everything one view returned, and what it raised."""

    undocumented: list[str] = field(default_factory=list)
    scalars: dict[str, tuple[list[int], list[float], list[float]]] = field(default_factory=dict)
    text: dict[str, list[tuple[int, float, str]]] = field(default_factory=dict)
    props: dict[str, Any] = field(default_factory=dict)
    flagged: bool = False  # the view reports damage (problems) or cannot be read (unreadable)
    reason: str = ""


def read_view(view: RunView, where: str) -> Seen:
    """Read every property and every series of ``view``, catching what escapes."""
    seen = Seen()

    def attempt(what: str, fn: Callable[[], Any], missing_tag: bool = False) -> Any:
        try:
            return fn()
        except StoreError:
            return _MISSING
        except KeyError:
            if missing_tag:
                return _MISSING
            seen.undocumented.append(f"{where}: {what} raised KeyError (the tag is listed)")
            return _MISSING
        except Exception as exc:
            seen.undocumented.append(f"{where}: {what} raised {short(exc)}")
            return _MISSING

    for name in PROPS:
        value = attempt(name, lambda name=name: getattr(view, name))
        if value is not _MISSING:
            seen.props[name] = _plain(value)
    attempt("repr()", lambda: repr(view))
    tags = attempt("scalar_tags", lambda: view.scalar_tags)
    for tag in tags if isinstance(tags, list) else []:
        series = attempt(f"scalars({tag!r})", lambda tag=tag: view.scalars(tag))
        if series is not _MISSING:
            steps, values, walls = (a.tolist() for a in series)
            seen.scalars[tag] = (steps, values, walls)
        attempt(f"scalar_count({tag!r})", lambda tag=tag: view.scalar_count(tag))
    attempt("scalars('no such tag')", lambda: view.scalars("no such tag"), missing_tag=True)
    text_tags = attempt("text_tags", lambda: view.text_tags)
    for tag in text_tags if isinstance(text_tags, list) else []:
        entries = attempt(f"text({tag!r})", lambda tag=tag: view.text(tag))
        if entries is not _MISSING:
            seen.text[tag] = [(e.step, e.wall_time, e.text) for e in entries]
    attempt("text('no such tag')", lambda: view.text("no such tag"), missing_tag=True)
    attempt("figure_tags", lambda: view.figure_tags)
    attempt("image_tags", lambda: view.image_tags)
    attempt("artifacts()", view.artifacts)
    attempt("iter_scalars()", lambda: list(view.iter_scalars()))
    if _has_pandas():
        attempt("to_pandas()", view.to_pandas)
    problems = attempt("problems", lambda: list(view.problems))
    unreadable = attempt("unreadable", lambda: view.unreadable)
    seen.flagged = bool(problems) or bool(unreadable) or problems is _MISSING
    seen.reason = f"{unreadable or ''} {problems if problems is not _MISSING else ''}".strip()
    return seen


_PANDAS: list[bool] = []


def _has_pandas() -> bool:
    if not _PANDAS:
        try:
            import pandas  # noqa: F401

            _PANDAS.append(True)
        except ImportError:
            _PANDAS.append(False)
    return _PANDAS[0]


@dataclass(frozen=True)
class Violation:
    what: str  # undocumented, silent_wrong, reported_wrong, silent_loss, silent_meta,
    #            intact_misread, listing, resume_truncated, hang
    detail: str


def judge(
    seen: Seen,
    truth: dict[str, Any],
    *,
    intact: bool,
    after_resume: bool = False,
) -> list[Violation]:
    """What is wrong with what a view of one run returned, given what the run really holds.

    ``intact``: the run was not damaged, so it must read exactly and report nothing.
    ``after_resume``: the run was resumed (its metadata legitimately changed, the probe was added).
    """
    found = [Violation("undocumented", u) for u in seen.undocumented]
    wrong = _wrong_points(seen, truth, after_resume) + _wrong_text(seen, truth, after_resume)
    if wrong:
        what = "silent_wrong" if not seen.flagged else "reported_wrong"
        found.append(Violation(what, "; ".join(wrong[:3])))
    if after_resume:
        return found
    loss = _losses(seen, truth)
    meta = [
        f"{key}: {seen.props[key]!r} (was {truth['props'][key]!r})"
        for key in COMPARED
        if key in seen.props and seen.props[key] != truth["props"][key]
    ]
    if intact and (seen.flagged or loss or meta or wrong):
        reasons = [seen.reason] if seen.flagged else []
        found.append(Violation("intact_misread", "; ".join([*reasons, *loss, *meta][:3])))
    elif not seen.flagged:
        if loss:
            found.append(Violation("silent_loss", "; ".join(loss[:3])))
        if meta:
            found.append(Violation("silent_meta", "; ".join(meta[:3])))
    return found


def _wrong_points(seen: Seen, truth: dict[str, Any], after_resume: bool) -> list[str]:
    wrong = []
    for tag, (steps, values, walls) in seen.scalars.items():
        logged = {int(p[0]): (p[1], p[2]) for p in truth["scalars"].get(tag, [])}
        extra = PROBE.get(tag, {}) if after_resume else {}
        if not logged and not extra:
            wrong.append(f"a tag never logged: {tag!r} ({len(steps)} points)")
            continue
        last = None
        for step, value, wall in zip(steps, values, walls):
            if step in logged and logged[step] == (value, wall):
                pass
            elif step in extra and extra[step] == value:
                pass
            else:
                wrong.append(f"{tag}: step {step} value {value!r} wall {wall!r} was never logged")
                break
            if last is not None and step <= last:
                wrong.append(f"{tag}: step {step} after step {last} (out of order or repeated)")
                break
            last = step
    return wrong


def _wrong_text(seen: Seen, truth: dict[str, Any], after_resume: bool) -> list[str]:
    wrong = []
    for tag, entries in seen.text.items():
        logged = [tuple(e) for e in truth["text"].get(tag, [])]
        at = 0
        for entry in entries:
            if after_resume and entry[2] == PROBE_TEXT:
                continue
            while at < len(logged) and logged[at] != entry:
                at += 1
            if at == len(logged):
                wrong.append(f"text {tag}: {entry!r} was never logged (or out of order)")
                break
            at += 1
    return wrong


def _losses(seen: Seen, truth: dict[str, Any]) -> list[str]:
    loss = []
    for tag, points in truth["scalars"].items():
        got = len(seen.scalars[tag][0]) if tag in seen.scalars else 0
        if got < len(points):
            loss.append(f"{tag}: {got} of {len(points)} points")
    for tag, entries in truth["text"].items():
        got = len(seen.text.get(tag, []))
        if got < len(entries):
            loss.append(f"text {tag}: {got} of {len(entries)} entries")
    return loss


def verified_prefix(mutated: bytes, original: bytes, cuts: list[int]) -> int:
    """Bytes up to the end of the last flush chunk that the mutation left intact."""
    keep = 0
    for lo, hi in itertools.pairwise(cuts):
        if len(mutated) >= hi and mutated[lo:hi] == original[lo:hi]:
            keep = hi
    return keep


def resume(run_dir: Path, cuts: list[int], original: bytes) -> list[Violation]:
    """Resume a damaged run, log the probe, finish; what went wrong (refusing with a
    ``StoreError`` is fine; destroying intact records is not)."""
    data = run_dir / ".labtrack" / "data.ltr"
    before = data.read_bytes() if data.exists() else b""
    keep = verified_prefix(before, original, cuts)
    found = []
    try:
        with labtrack.start_run(
            "fuzz", run_dir=run_dir, capture_exit=False, flush_interval=60, durable=False
        ) as run:
            for tag, points in PROBE.items():
                for step, value in points.items():
                    run.log_metric(tag, value, step=step)
            run.log_text("notes", PROBE_TEXT)
    except StoreError:
        pass
    except Exception as exc:
        found.append(Violation("undocumented", f"resume raised {short(exc)}"))
    after = data.read_bytes() if data.exists() else b""
    if after[:keep] != before[:keep]:
        differ = next(
            (i for i in range(min(keep, len(after))) if after[i] != before[i]), len(after)
        )
        found.append(
            Violation(
                "resume_truncated",
                f"the data file went from {len(before)} to {len(after)} bytes and changed at byte "
                f"{differ}; its first {keep} bytes were intact records",
            )
        )
    return found


# ---------------------------------------------------------------------------- one mutation


def run_mutation(reference: dict[str, Any], work: Path, seed: int, i: int) -> dict[str, Any]:
    """Mutation number ``i``: copy the references, damage one, read, resume, read again."""
    started = time.monotonic()
    rng = random.Random(f"{seed}:{i}")
    kind = KINDS[i % len(KINDS)]
    runs = reference["runs"]
    r = rng.randrange(len(runs))
    ref_store = Path(reference["store"])
    store = work / f"m{i}"
    for run in runs:
        shutil.copytree(ref_store / run["rel"], store / run["rel"])
    target = store / runs[r]["rel"]
    detail = mutate(target, kind, rng, runs[r]["cuts"])
    truths = {str((store / run["rel"]).absolute()): run for run in runs}

    found: list[Violation] = []
    flagged = False
    for catalog in (True, False):
        try:
            views = Store(store, catalog=catalog).runs()
        except StoreError as exc:
            found.append(
                Violation("listing", f"Store(catalog={catalog}).runs() raised {short(exc)}")
            )
            continue
        except Exception as exc:
            found.append(Violation("undocumented", f"Store.runs() raised {short(exc)}"))
            found.append(Violation("listing", f"Store(catalog={catalog}).runs() listed nothing"))
            continue
        listed = {str(v.dir) for v in views}
        if listed != set(truths):
            found.append(Violation("listing", f"listed {len(listed)} of {len(truths)} runs"))
        for view in views if catalog else []:
            run = truths.get(str(view.dir))
            if run is not None:
                mutated = run is runs[r]
                seen = read_view(
                    view, "Store.runs() view" + (" of the damaged run" if mutated else "")
                )
                found.extend(judge(seen, run, intact=not mutated))
                flagged |= mutated and seen.flagged
    try:
        direct = read_view(open_run(target), "open_run()")
        found.extend(judge(direct, runs[r], intact=False))
    except Exception as exc:
        found.append(Violation("undocumented", f"open_run() raised {short(exc)}"))
    original = (ref_store / runs[r]["rel"] / ".labtrack" / "data.ltr").read_bytes()
    found.extend(resume(target, runs[r]["cuts"], original))
    try:
        again = read_view(open_run(target), "open_run() after resuming")
        found.extend(judge(again, runs[r], intact=False, after_resume=True))
    except Exception as exc:
        found.append(Violation("undocumented", f"open_run() after resuming raised {short(exc)}"))
    if not found:
        shutil.rmtree(store, ignore_errors=True)
    return {
        "i": i,
        "kind": kind,
        "ref": r,
        "detail": detail,
        "flagged": flagged,
        "violations": [[v.what, v.detail] for v in _dedupe(found)],
        "seconds": time.monotonic() - started,
    }


def _dedupe(found: list[Violation]) -> list[Violation]:
    return list(dict.fromkeys(found))


def main(args: list[str]) -> None:
    """A fuzz worker: ``reference.json work_dir seed i,j,k...``; one JSON line per mutation."""
    reference = json.loads(Path(args[0]).read_text())
    work, seed = Path(args[1]), int(args[2])
    limit = 4 << 30  # bytes of address space: a corrupt length must fail fast, not swap
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for i in (int(x) for x in args[3].split(",")):
        print(f"begin {i}", flush=True)
        print(json.dumps(run_mutation(reference, work, seed, i)), flush=True)
    sys.stdout.flush()


# ---------------------------------------------------------------------------- the driver


@dataclass
class Fuzz:
    mutations: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def of(self, what: str) -> list[str]:
        """``mutation i (kind, detail): message`` for every violation of kind ``what``."""
        return [
            f"mutation {r['i']} ({r['kind']}, ref{r['ref']}, {r['detail']}): {detail}"
            for r in self.results
            for kind, detail in r["violations"]
            if kind == what
        ]

    def count(self, what: str) -> int:
        return sum(any(k == what for k, _ in r["violations"]) for r in self.results)


def fuzz(
    root: Path, mutations: int, *, seed: int = 0, workers: int = 2, time_limit: float = 10.0
) -> Fuzz:
    """``mutations`` mutations over ``workers`` worker processes, each mutation under
    ``time_limit`` seconds."""
    started = time.monotonic()
    reference = make_references(root)
    work = root / "mutations"
    work.mkdir()
    shards = [list(range(k, mutations, workers)) for k in range(workers)]
    lock = threading.Lock()
    result = Fuzz(mutations=mutations)

    def drive(k: int) -> None:
        pending = shards[k]
        attempt = 0
        while pending:
            err = root / f"worker-{k}-{attempt}.err"
            args = [str(reference), str(work), str(seed), ",".join(map(str, pending))]
            proc = spawn_helper("_fuzz", args, root, stderr=err)
            done = _follow(proc, pending, time_limit, err)
            stop(proc)
            with lock:
                result.results.extend(done)
            finished = {d["i"] for d in done}
            pending = [i for i in pending if i not in finished]
            attempt += 1

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(drive, range(workers)))
    result.results.sort(key=lambda r: r["i"])
    result.seconds = time.monotonic() - started
    return result


def _follow(proc: Any, pending: list[int], time_limit: float, err: Path) -> list[dict[str, Any]]:
    """Results of a worker's mutations, until it ends, dies or hangs on one (which is then
    recorded as a hang or a crash of that mutation)."""
    lines = Lines(proc)
    done: list[dict[str, Any]] = []
    current: int | None = None
    while len(done) < len(pending):
        try:
            line = lines.next(timeout=time_limit if current is not None else 120)
        except TimeoutError:
            i = current if current is not None else pending[len(done)]
            done.append(_failed(i, "hang", f"no answer within {time_limit:g} s"))
            return done
        if line is None:
            i = current if current is not None else pending[len(done)]
            tail = err.read_text()[-1500:] if err.exists() else ""
            done.append(_failed(i, "undocumented", f"the worker died: {tail}"))
            return done
        if line.startswith("begin "):
            current = int(line.split()[1])
        elif line.startswith("{"):
            done.append(json.loads(line))
            current = None
    return done


def _failed(i: int, what: str, detail: str) -> dict[str, Any]:
    return {
        "i": i,
        "kind": KINDS[i % len(KINDS)],
        "ref": -1,
        "detail": "(see the worker)",
        "flagged": False,
        "violations": [[what, detail]],
        "seconds": 0.0,
    }


CATEGORIES = (
    ("undocumented", "mutations raising undocumented exceptions"),
    ("hang", "hangs (no answer within the time limit)"),
    ("silent_wrong", "wrong values returned silently"),
    ("reported_wrong", "wrong values returned with damage reported"),
    ("silent_loss", "data lost silently (no problem reported)"),
    ("silent_meta", "metadata changed silently"),
    ("intact_misread", "intact runs misread beside a damaged one"),
    ("listing", "stores not listing every run"),
    ("resume_truncated", "resumes destroying intact records"),
)


def figures(result: Fuzz) -> list[tuple[str, str]]:
    """The fuzz rows of the soak table."""
    by_kind = {kind: 0 for kind in KINDS}
    for r in result.results:
        by_kind[r["kind"]] += 1
    rows = [("mutations", f"{len(result.results)}")]
    rows.extend((f"  {kind}", str(n)) for kind, n in by_kind.items())
    rows.append(("mutations reported as damage", str(sum(r["flagged"] for r in result.results))))
    rows.extend((label, str(result.count(what))) for what, label in CATEGORIES)
    return rows


def violations(result: Fuzz) -> list[str]:
    return [line for what, _ in CATEGORIES for line in result.of(what)]
