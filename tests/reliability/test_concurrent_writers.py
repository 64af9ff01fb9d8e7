"""32 writer processes, each its own run in one store, and 2 reader processes polling it while
they write (issue 9): readers never raise and never see a value that was not logged or anything
but a prefix; afterwards every run is ``completed`` with every point exact."""

from __future__ import annotations

import pytest

from tests.reliability._harness import sample
from tests.reliability._writers import Concurrency, run_concurrently


@pytest.fixture(scope="module")
def writing(tmp_path_factory: pytest.TempPathFactory) -> Concurrency:
    return run_concurrently(tmp_path_factory.mktemp("writers"), writers=32, readers=2, steps=10_000)


def test_readers_polling_while_32_processes_write_see_only_logged_prefixes(
    writing: Concurrency,
) -> None:
    assert writing.saw_running, "no poll overlapped the writers: nothing was checked"
    assert writing.polls >= 20
    assert not writing.reader_wrong, (
        f"{writing.reader_wrong_count} wrong reads:{sample(writing.reader_wrong)}"
    )


def test_every_run_is_completed_with_every_point_once_the_writers_are_done(
    writing: Concurrency,
) -> None:
    assert not writing.writer_failures, sample(writing.writer_failures)
    assert not writing.final_wrong, sample(writing.final_wrong)
