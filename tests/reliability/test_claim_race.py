"""Two processes resuming one finished run at the same instant, 50 times (issue 9): exactly one
is accepted each time, the other gets ``RunLockedError``, and every tag reads back exactly the
values its own writer logged. See ``_claims.py`` for how the two are released together."""

from __future__ import annotations

import pytest

from tests.reliability._claims import Race, race
from tests.reliability._harness import sample


@pytest.fixture(scope="module")
def races(tmp_path_factory: pytest.TempPathFactory) -> Race:
    return race(tmp_path_factory.mktemp("claims"), 50)


def test_exactly_one_of_two_simultaneous_resumes_is_accepted(races: Race) -> None:
    assert races.trials == 50, sample(races.wrong)
    assert (races.both, races.neither) == (0, 0), sample(races.wrong)
    other = [w for w in races.wrong if "reads" not in w and "accepted" not in w]
    assert not other, sample(other)


def test_every_tag_reads_back_the_values_its_own_writer_logged(races: Race) -> None:
    assert not races.mixed, (
        f"{len(races.mixed)} tags hold another writer's values:"
        f"{sample([w for w in races.wrong if ' reads ' in w])}"
    )
