"""Soak issue 9's guarantees at scale: random SIGKILLs, many writers, claim races, corruption.

    python bench/soak.py            # 500 kills, 100 writers, 200 claim races, 5,000 mutations
    python bench/soak.py --quick    # tiny counts, a smoke test
    python bench/soak.py --kills 1000 --writers 100 --mutations 20000 --only kills,fuzz

The checks are the ones ``tests/reliability/`` runs at CI sizes (imported from there, so the two
cannot drift apart); see each module's docstring for what is guaranteed and how it is measured:

1. crash window (``_kills``): children log in a tight loop (half one tag, half 20 tags per step),
   ``--parallel`` at a time, and are SIGKILLed at random times; nothing logged more than
   ``flush_interval + 20 ms`` before the kill may be lost, what survives is an exact prefix, the
   run reads ``crashed``, and every fifth killed run is resumed;
2. concurrency (``_writers``): ``--writers`` writer processes into one store while ``--readers``
   reader processes poll it;
3. claim race (``_claims``): two processes resume one finished run at the same instant;
4. corruption fuzz (``_fuzz``): bit flips, truncation, garbage, wrong-typed metadata.

Prints one table of figures and every violation found; exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT / "src", ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from _common import table
from tests.reliability import _claims, _fuzz, _kills, _writers

SECTIONS = ("kills", "writers", "claims", "fuzz")


@dataclass(frozen=True)
class Sizes:
    kills: int  # SIGKILLs in all, half with one tag, half with 20 tags per step
    writers: int
    readers: int
    steps: int  # steps (of two tags) per writer
    claims: int  # claim races
    mutations: int


FULL = Sizes(kills=500, writers=100, readers=4, steps=10_000, claims=200, mutations=5_000)
QUICK = Sizes(kills=8, writers=4, readers=2, steps=2_000, claims=5, mutations=40)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny counts (a smoke test)")
    parser.add_argument("--kills", type=int, help=f"SIGKILLs (default {FULL.kills})")
    parser.add_argument("--writers", type=int, help=f"writer processes (default {FULL.writers})")
    parser.add_argument("--readers", type=int, help=f"reader processes (default {FULL.readers})")
    parser.add_argument("--steps", type=int, help=f"steps per writer (default {FULL.steps})")
    parser.add_argument("--claims", type=int, help=f"claim races (default {FULL.claims})")
    parser.add_argument("--mutations", type=int, help=f"fuzz mutations (default {FULL.mutations})")
    parser.add_argument("--parallel", type=int, default=4, help="children killed at a time")
    parser.add_argument("--workers", type=int, default=2, help="fuzz worker processes")
    parser.add_argument("--flush-interval", type=float, default=0.1, help="of the killed runs")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per mutation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        *(
            getattr(args, name) if getattr(args, name) is not None else getattr(base, name)
            for name in Sizes.__dataclass_fields__
        )
    )
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    if set(only) - set(SECTIONS):
        parser.error(f"--only: unknown {sorted(set(only) - set(SECTIONS))}; choose from {SECTIONS}")

    tmp = Path(tempfile.mkdtemp(prefix="labtrack-soak-"))
    old_cwd = os.getcwd()
    os.chdir(tmp)  # start_run records the git state of the working directory: not ours
    print(f"labtrack soak: {' '.join(['python bench/soak.py', *(argv or sys.argv[1:])])}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, temp dir {tmp}")
    print(f"sizes: {sizes}\n", flush=True)
    rows: list[list[str]] = []
    found: dict[str, list[str]] = {}
    started = time.monotonic()

    def section(
        name: str, title: str, check: Callable[[Path], tuple[list[tuple[str, str]], list[str]]]
    ) -> None:
        if name not in only:
            return
        print(f"{title} ...", flush=True)
        t0 = time.monotonic()
        work = tmp / name
        work.mkdir()
        figures, violations = check(work)
        rows.extend(
            [title if i == 0 else "", label, value] for i, (label, value) in enumerate(figures)
        )
        rows.append(["", "time taken, s", f"{time.monotonic() - t0:.1f}"])
        found[title] = violations
        print(f"  {len(violations)} violation(s), {time.monotonic() - t0:.1f} s", flush=True)

    def kills(work: Path) -> tuple[list[tuple[str, str]], list[str]]:
        one = sizes.kills // 2
        results = [
            *_kills.kill_many(
                work, one, tags=1, flush_interval=args.flush_interval,
                parallel=args.parallel, seed=args.seed,
            ),
            *_kills.kill_many(
                work, sizes.kills - one, tags=20, flush_interval=args.flush_interval,
                parallel=args.parallel, seed=args.seed + 1,
            ),
        ]  # fmt: skip
        return _kills.figures(results), _kills.violations(results)

    def writers(work: Path) -> tuple[list[tuple[str, str]], list[str]]:
        result = _writers.run_concurrently(
            work, writers=sizes.writers, readers=sizes.readers, steps=sizes.steps
        )
        return _writers.figures(result), _writers.violations(result)

    def claims(work: Path) -> tuple[list[tuple[str, str]], list[str]]:
        result = _claims.race(work, sizes.claims)
        return _claims.figures(result), _claims.violations(result)

    def fuzz(work: Path) -> tuple[list[tuple[str, str]], list[str]]:
        result = _fuzz.fuzz(
            work, sizes.mutations, seed=args.seed, workers=args.workers, time_limit=args.time_limit
        )
        return _fuzz.figures(result), _fuzz.violations(result)

    try:
        section("kills", "crash window", kills)
        section("writers", "concurrency", writers)
        section("claims", "claim race", claims)
        section("fuzz", "corruption fuzz", fuzz)
    finally:
        os.chdir(old_cwd)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    total = sum(len(v) for v in found.values())
    rows.append(["all", "violations", str(total)])
    rows.append(["", "time taken, s", f"{time.monotonic() - started:.1f}"])
    print()
    print(table(["check", "figure", "value"], rows))
    for title, violations in found.items():
        if violations:
            print(f"\n## {title}: {len(violations)} violation(s)\n")
            for line in violations[:20]:
                print(f"- {line}")
            if len(violations) > 20:
                print(f"- ... and {len(violations) - 20} more")
    if total and not args.keep:
        print("\n(the temporary directory is gone: run with --keep to look at kept runs)")
    print(f"\n{'FAILED' if total else 'OK'}: {total} violation(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
