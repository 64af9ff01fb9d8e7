"""Corruption fuzz, 324 mutations (issue 9): bit flips, broken record headers, truncation and
garbage in a run's data file and metadata, and wrong-typed metadata fields. Reading a store that
holds the damaged run raises only documented errors, never hangs, reads the intact runs beside it
exactly, and never returns a wrong value or hides damage; resuming the damaged run destroys no
intact record.

Every failure names its mutation (number, kind, what was done): ``run_mutation(reference, work,
0, i)`` in ``_fuzz.py`` replays it.
"""

from __future__ import annotations

import pytest

from tests.reliability._fuzz import KINDS, Fuzz, fuzz
from tests.reliability._harness import sample


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Fuzz:
    return fuzz(tmp_path_factory.mktemp("fuzz"), 324, seed=0, time_limit=10.0)


def test_at_least_300_mutations_of_every_kind_ran(fuzzed: Fuzz) -> None:
    assert len(fuzzed.results) >= 300
    assert {r["kind"] for r in fuzzed.results} == set(KINDS)


def test_reading_a_damaged_store_raises_only_documented_errors(fuzzed: Fuzz) -> None:
    found = fuzzed.of("undocumented")
    assert not found, f"{fuzzed.count('undocumented')} mutations:{sample(found)}"


def test_reading_a_damaged_store_never_hangs(fuzzed: Fuzz) -> None:
    assert not fuzzed.of("hang"), sample(fuzzed.of("hang"))


def test_no_wrong_value_is_ever_returned(fuzzed: Fuzz) -> None:
    found = fuzzed.of("silent_wrong") + fuzzed.of("reported_wrong")
    assert not found, sample(found)


def test_no_damage_is_read_silently(fuzzed: Fuzz) -> None:
    found = fuzzed.of("silent_loss") + fuzzed.of("silent_meta")
    assert not found, (
        f"{fuzzed.count('silent_loss')} silent losses, {fuzzed.count('silent_meta')} silently "
        f"changed metadata:{sample(found)}"
    )


def test_intact_runs_beside_a_damaged_one_list_and_read_exactly(fuzzed: Fuzz) -> None:
    found = fuzzed.of("intact_misread") + fuzzed.of("listing")
    assert not found, sample(found)


def test_resuming_a_damaged_run_keeps_every_intact_record(fuzzed: Fuzz) -> None:
    found = fuzzed.of("resume_truncated")
    assert not found, f"{fuzzed.count('resume_truncated')} mutations:{sample(found)}"
