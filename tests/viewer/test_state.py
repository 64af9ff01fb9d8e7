"""The runs table's rows, built from real runs."""

from __future__ import annotations

import logging

import pytest

import labtrack
from labtrack.store import RunView
from labtrack.viewer.state import RunEntry, run_detail, run_summary


class ConfigRaises(RunView):
    """A view whose config cannot be read (as if this viewer were older than the store)."""

    @property
    def config(self):
        raise RuntimeError("config from the future")


def test_a_row_that_cannot_be_made_is_an_unreadable_row_and_is_logged(tmp_path, caplog):
    with labtrack.start_run("exp", name="fine", config={"lr": 0.1}, dir=tmp_path) as run:
        run.log({"loss": 1.0}, step=0)
    good = run_summary(RunEntry(1, RunView(run.dir), "exp/fine"))
    assert good["status"] == "completed"
    assert good["config"] == {"lr": 0.1}
    assert good["unreadable"] is None
    with caplog.at_level(logging.WARNING, logger="labtrack.viewer"):
        row = run_summary(RunEntry(2, ConfigRaises(run.dir), "exp/fine"))
    assert row["status"] == "unreadable"
    assert row["unreadable"] == "RuntimeError: config from the future"
    assert row["name"] == "fine"
    assert row["config"] == {}
    (record,) = caplog.records
    assert "exp/fine" in record.getMessage()
    assert record.exc_info is not None


def test_the_detail_of_a_failed_run_has_its_traceback(tmp_path):
    with pytest.raises(ZeroDivisionError), labtrack.start_run("exp", name="boom", dir=tmp_path):
        1 / 0
    view = labtrack.Store(tmp_path).runs()[0]
    entry = RunEntry(1, view, "exp/boom")
    assert run_summary(entry)["error"] == "ZeroDivisionError: division by zero"
    detail = run_detail(entry)
    assert detail["failure"]["type"] == "ZeroDivisionError"
    assert "1 / 0" in detail["failure"]["traceback"]
    assert detail["problems"] == []
