"""The crash window: a SIGKILL at a random time loses nothing logged more than
``flush_interval + 20 ms`` before it (issue 9), also with several writers competing for 2 cores.

55 kills: 30 of a child logging one tag in a tight loop, 25 of one logging 20 tags per step, four
children at a time. See ``_kills.py`` for how the age of a lost point is measured.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability._harness import sample
from tests.reliability._kills import Kill, describe, kill_many


@pytest.fixture(scope="module")
def kills(tmp_path_factory: pytest.TempPathFactory) -> list[Kill]:
    root: Path = tmp_path_factory.mktemp("kills")
    one_tag = kill_many(root, 30, tags=1, flush_interval=0.1, seed=1)
    twenty_tags = kill_many(root, 25, tags=20, flush_interval=0.1, seed=20)
    return one_tag + twenty_tags


def test_every_point_older_than_the_window_survives_a_random_sigkill(kills: list[Kill]) -> None:
    assert len(kills) >= 50
    lost = [describe(k) for k in kills if k.lost_outside]
    assert not lost, f"{len(lost)} of {len(kills)} kills lost points:{sample(lost)}"


def test_what_survives_a_kill_is_exactly_steps_0_to_k_with_their_values(
    kills: list[Kill],
) -> None:
    corrupt = [describe(k) for k in kills if k.corrupt]
    assert not corrupt, f"{len(corrupt)} of {len(kills)} killed runs are damaged:{sample(corrupt)}"
    assert sum(k.persisted > 0 for k in kills) >= len(kills) // 2  # the kills hit logging runs


def test_a_killed_run_reads_crashed_even_before_its_parent_reaps_it(kills: list[Kill]) -> None:
    wrong = [describe(k) for k in kills if (k.status, k.status_unreaped) != ("crashed", "crashed")]
    assert not wrong, f"{len(wrong)} of {len(kills)} killed runs:{sample(wrong)}"


def test_a_run_resumed_after_a_kill_continues_after_its_last_persisted_step(
    kills: list[Kill],
) -> None:
    resumed = [k for k in kills if k.resumed]
    assert len(resumed) >= 10
    failed = [describe(k) for k in resumed if k.resume_problem]
    assert not failed, f"{len(failed)} of {len(resumed)} resumes went wrong:{sample(failed)}"
