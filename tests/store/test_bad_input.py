"""Bad input is refused at the call that made it, names what was wrong, and stores nothing;
the writer itself never lets one bad point cost other points, tags or names."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import labtrack
from labtrack.errors import StoreError


@pytest.mark.parametrize(
    "step", [2**63, 2**64 + 5, np.uint64(2**63 + 1), np.uint64(np.iinfo(np.uint64).max)]
)
def test_a_step_beyond_int64_is_refused_at_the_call(tmp_path: Path, step: object) -> None:
    with labtrack.start_run("e", dir=tmp_path) as run:
        run.log_metric("ok", 1.0, step=0)
        with pytest.raises(ValueError, match=r"step for tag 'loss' must be at most 2\*\*63 - 1"):
            run.log_metric("loss", 1.0, step=step)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="at most 2"):
            run.log({"loss": 1.0, "acc": 0.5}, step=step)  # type: ignore[arg-type]
        run.log_metric("loss", 2.0)  # an automatic step after the refusal: fine
    view = labtrack.store.open_run(run.dir)
    assert view.status == "completed" and view.problems == []
    assert view.scalar_tags == ["ok", "loss"]
    assert view.scalars("loss").steps.tolist() == [0]
    assert view.scalars("loss").values.tolist() == [2.0]


def test_the_largest_step_is_stored_exactly(tmp_path: Path) -> None:
    with labtrack.start_run("e", dir=tmp_path) as run:
        run.log_metric("a", 1.0, step=2**63 - 1)
        with pytest.raises(ValueError, match="reached the largest step"):
            run.log_metric("a", 2.0)
    assert labtrack.store.open_run(run.dir).scalars("a").steps.tolist() == [2**63 - 1]


@pytest.mark.parametrize("value", [10**400, -(10**309)])
def test_a_value_beyond_float64_is_refused_naming_the_tag(tmp_path: Path, value: int) -> None:
    with labtrack.start_run("e", dir=tmp_path) as run:
        with pytest.raises(ValueError, match="value for tag 'huge' is too large for a 64-bit"):
            run.log_metric("huge", value)
        with pytest.raises(ValueError, match="'huge'"):
            run.log({"fine": 1.0, "huge": value}, step=3)
    view = labtrack.store.open_run(run.dir)
    assert view.scalar_tags == [] and view.status == "completed"


@pytest.mark.parametrize("step", [None, 7])
def test_a_rejected_call_stores_nothing(tmp_path: Path, step: int | None) -> None:
    with labtrack.start_run("e", dir=tmp_path) as run:
        with pytest.raises(TypeError, match="value for tag 'bad'"):
            run.log({"good": 1.0, "bad": "x"}, step=step)
        with pytest.raises(TypeError, match="value for tag 'bad'"):
            run.log({"good": 1.0, "bad": [1, 2]}, step=step)
        with pytest.raises(ValueError, match="must not be empty"):
            run.log({"good": 1.0, "": 2.0}, step=step)
        run.log({"good": 5.0}, step=step)
    view = labtrack.store.open_run(run.dir)
    assert view.scalar_tags == ["good"]
    assert view.scalars("good").values.tolist() == [5.0]
    assert view.scalars("good").steps.tolist() == [0 if step is None else step]


def test_every_write_after_finish_raises_the_same_error(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"weights")
    run = labtrack.start_run("e", dir=tmp_path)
    run.log_metric("a", 1.0)
    run.finish()
    writes = {
        "log": lambda: run.log({"a": 1.0}, step=1),
        "log auto-step": lambda: run.log({"a": 1.0}),
        "log_metric": lambda: run.log_metric("a", 2.0),
        "log_text": lambda: run.log_text("notes", "late"),
        "summary": lambda: run.summary.__setitem__("best", 1.0),
        "summary del": lambda: run.summary.__delitem__("best"),
        "log_params": lambda: run.log_params({"lr": 0.1}),
        "set_tags": lambda: run.set_tags(["late"]),
        "log_image": lambda: run.log_image("img", np.zeros((4, 4), np.uint8)),
        "log_artifact": lambda: run.log_artifact(tmp_path / "model.bin"),
    }
    for what, write in writes.items():
        with pytest.raises(StoreError, match=f"run {run.id} is finished") as raised:
            write()
        assert "start a new run" in str(raised.value), what
    view = labtrack.store.open_run(run.dir)
    assert view.scalars("a").values.tolist() == [1.0] and view.text_tags == []
    assert "best" not in view.summary and view.params == {} and view.artifacts() == []


def test_a_point_the_writer_cannot_encode_loses_only_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A writer bug (simulated: encoding one tag fails) must not cost other tags or names."""
    from labtrack.store import _writer

    real = _writer._merge

    def merge_failing_for_poison(tag_id: int, pieces: list) -> tuple:  # type: ignore[type-arg]
        if any(float(v) == 13.0 for piece in pieces for v in piece[1]):
            raise OverflowError("simulated encoding bug")
        return real(tag_id, pieces)

    monkeypatch.setattr(_writer, "_merge", merge_failing_for_poison)
    with caplog.at_level(logging.ERROR, logger="labtrack"):
        with labtrack.start_run("e", dir=tmp_path, flush_interval=60) as run:
            run.log({"first": 1.0, "poisoned": 13.0, "other": 2.0}, step=0)  # all new tags
            run.flush()
            run.log({"first": 3.0, "poisoned": 4.0, "other": 5.0}, step=1)
    assert any(
        "cannot encode 1 point(s) of tag 'poisoned'" in r.getMessage() for r in caplog.records
    )
    view = labtrack.store.open_run(run.dir)
    assert view.scalar_tags == ["first", "poisoned", "other"]  # no tag lost its name
    assert view.scalars("first").values.tolist() == [1.0, 3.0]
    assert view.scalars("other").values.tolist() == [2.0, 5.0]
    assert view.scalars("poisoned").values.tolist() == [4.0]
    assert view.status == "failed" and view.error is not None
    assert "could not be encoded" in view.error.message
