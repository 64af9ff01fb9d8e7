"""The claim race: two processes resume one finished run at the same instant.

The guarantee (issue 9): exactly one of the two is accepted, the other gets
:class:`~labtrack.errors.RunLockedError`, and afterwards every tag reads back exactly its own
values (two accepted writers would give their new tags the same id and mix their values).

Two claimer processes serve every trial (starting two interpreters per trial would cost more
than the trials). For each trial the parent sends both the same start time; both spin until it,
then call ``start_run(run_dir=...)``. The one accepted logs a tag of its own and holds the run for
``hold`` seconds before finishing, so that a loser that is merely late still finds it running.
A second acceptance that came after the first writer had finished is not a race (it is counted as
``late`` and the trial is repeated); two that overlap are.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import labtrack
from labtrack.errors import RunLockedError
from labtrack.store import open_run

from ._harness import Lines, short, spawn_helper, stop

VALUES = 5


def claim_values(trial: int, who: int) -> list[float]:
    """What claimer ``who`` logs when it wins ``trial``: distinct from everything else logged."""
    return [trial * 1000.0 + who * 500.0 + j for j in range(VALUES)]


def tag_of(trial: int, who: int) -> str:
    return f"trial{trial}_p{who}"


def main(args: list[str]) -> None:
    """A claimer process: for each ``trial start_time hold`` line on stdin, race for the run."""
    run_dir, who, scratch = Path(args[0]), int(args[1]), Path(args[2])
    # The first start_run of a process pays for imports and git: not during the race.
    with labtrack.start_run("warmup", dir=scratch):
        pass
    print("ready", flush=True)
    for line in sys.stdin:
        trial_text, at_text, hold_text = line.split()
        trial, at, hold = int(trial_text), float(at_text), float(hold_text)
        out: dict[str, Any] = {"who": who, "accepted": False, "error": None}
        while time.time() < at:
            pass
        try:
            run = labtrack.start_run("race", run_dir=run_dir)
        except RunLockedError:
            out["error"] = "RunLockedError"
        except Exception as exc:
            out["error"] = short(exc)
        else:
            out["accepted"] = True
            out["accepted_at"] = time.time()
            try:
                for step, value in enumerate(claim_values(trial, who)):
                    run.log_metric(tag_of(trial, who), value, step=step)
                run.flush()
                time.sleep(max(0.0, at + hold - time.time()))
                run.finish()
            except Exception as exc:
                out["error"] = f"after being accepted: {short(exc)}"
            out["finished_at"] = time.time()
        print(json.dumps(out), flush=True)


@dataclass
class Race:
    trials: int = 0  # races that counted (both claimers tried while the winner held the run)
    late: int = 0  # repeated: the second acceptance came after the first writer finished
    both: int = 0
    neither: int = 0
    mixed: set[str] = field(default_factory=set)  # tags that read back values not their own
    seconds: float = 0.0
    wrong: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.wrong


def race(root: Path, trials: int = 50, *, hold: float = 0.15) -> Race:
    """``trials`` two-process claim races on one finished run in ``root/store``."""
    started = time.monotonic()
    result = Race()
    with labtrack.start_run("race", name="shared", dir=root / "store") as run:
        run.log_metric("base", 1.0, step=0)
    run_dir = run.dir
    expected: dict[str, list[float]] = {"base": [1.0]}
    procs = [
        spawn_helper(
            "_claims",
            [str(run_dir), str(who), str(root / f"scratch-{who}")],
            root,
            stdin=True,
            stderr=root / f"claimer-{who}.err",
        )
        for who in (0, 1)
    ]
    lines = [Lines(proc) for proc in procs]
    try:
        if [out.next(timeout=120) for out in lines] != ["ready", "ready"]:
            result.wrong.append("a claimer did not start: " + _errors(root))
            return result
        attempt = 0
        while result.trials < trials and attempt < 2 * trials + 10:
            at = time.time() + 0.05
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write(f"{attempt} {at!r} {hold!r}\n")
                proc.stdin.flush()
            outs = []
            for out in lines:
                line = out.next(timeout=120)
                if not line:
                    result.wrong.append(f"trial {attempt}: a claimer died: " + _errors(root))
                    return result
                outs.append(json.loads(line))
            _judge(result, attempt, outs, expected, run_dir)
            attempt += 1
    finally:
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.close()
            stop(proc)
        result.seconds = time.monotonic() - started
    return result


def _judge(
    result: Race,
    trial: int,
    outs: list[dict[str, Any]],
    expected: dict[str, list[float]],
    run_dir: Path,
) -> None:
    winners = [o for o in outs if o["accepted"]]
    for o in winners:
        expected[tag_of(trial, o["who"])] = claim_values(trial, o["who"])
    if len(winners) == 2:
        first, second = sorted(winners, key=lambda o: o["accepted_at"])
        if second["accepted_at"] > first["finished_at"]:
            result.late += 1  # one after the other: not a race, try again
            _check_run(result, trial, expected, run_dir)
            return
        result.both += 1
        result.wrong.append(f"trial {trial}: both processes were accepted")
    elif not winners:
        result.neither += 1
        result.wrong.append(f"trial {trial}: neither was accepted: {[o['error'] for o in outs]}")
    result.trials += 1
    for o in outs:
        if (o["error"] and o["error"] != "RunLockedError") or (o["accepted"] and o["error"]):
            result.wrong.append(f"trial {trial}: claimer {o['who']}: {o['error']}")
        elif len(winners) == 1 and not o["accepted"] and o["error"] != "RunLockedError":
            result.wrong.append(f"trial {trial}: the loser got {o['error']!r}")
    _check_run(result, trial, expected, run_dir)


def _check_run(result: Race, trial: int, expected: dict[str, list[float]], run_dir: Path) -> None:
    try:
        view = open_run(run_dir)
        if view.status != "completed":
            result.wrong.append(f"trial {trial}: the run reads {view.status!r} afterwards")
        tags = set(view.scalar_tags)
        if tags != set(expected):
            missing, extra = sorted(set(expected) - tags), sorted(tags - set(expected))
            result.wrong.append(f"trial {trial}: tags missing {missing}, never logged {extra}")
        for tag in sorted(tags & set(expected) - result.mixed):  # each mixed-up tag once
            values = view.scalars(tag).values.tolist()
            if values != expected[tag]:
                result.mixed.add(tag)
                result.wrong.append(f"trial {trial}: {tag} reads {values}, logged {expected[tag]}")
        if view.problems:
            result.wrong.append(f"trial {trial}: problems {view.problems}")
    except Exception as exc:
        result.wrong.append(f"trial {trial}: reading the run raised {short(exc)}")


def _errors(root: Path) -> str:
    return " | ".join(
        p.read_text()[-1000:] for p in sorted(root.glob("claimer-*.err")) if p.stat().st_size
    )


def figures(result: Race) -> list[tuple[str, str]]:
    """The claim-race rows of the soak table."""
    return [
        ("claim races (repeated because one was late)", f"{result.trials} ({result.late})"),
        ("races with two winners / none", f"{result.both} / {result.neither}"),
        ("tags reading another writer's values", str(len(result.mixed))),
        (
            "other claim errors",
            str(len(result.wrong) - result.both - result.neither - len(result.mixed)),
        ),
    ]


def violations(result: Race) -> list[str]:
    return list(result.wrong)
