"""Finding runs across a store: filters, the catalog, broken runs, exports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import labtrack
from labtrack.errors import StoreError


@pytest.fixture
def store(tmp_path: Path) -> labtrack.Store:
    for i, lr in enumerate([0.1, 0.01, 0.001]):
        with labtrack.start_run(
            "sweep",
            name=f"lr{lr}",
            dir=tmp_path,
            tags=["baseline"] if i == 0 else {"team": "rl"},
            config={"lr": lr, "optimizer": {"name": "adam" if i else "sgd", "betas": [0.9, 0.99]}},
        ) as run:
            for step in range(10):
                run.log({"loss": lr * (10 - step)}, step=step)
            run.summary["val.acc"] = 0.5 + i / 10
    with pytest.raises(ValueError), labtrack.start_run("other", dir=tmp_path, config={"lr": 0.1}):
        raise ValueError("diverged")
    return labtrack.Store(tmp_path)


def names(views: list[labtrack.RunView]) -> list[str]:
    return sorted(v.name for v in views)


def test_filters(store: labtrack.Store) -> None:
    assert len(store.runs()) == 4
    assert names(store.runs(experiment="sweep")) == ["lr0.001", "lr0.01", "lr0.1"]
    assert names(store.runs(where={"config.lr": 0.01})) == ["lr0.01"]
    assert len(store.runs(where={"config.lr": 0.1})) == 2
    assert names(store.runs(where={"config.optimizer.name": "adam"})) == ["lr0.001", "lr0.01"]
    assert names(
        store.runs(
            where={"config.optimizer.betas": [0.9, 0.99], "config.lr": 0.1}, experiment="sweep"
        )
    ) == ["lr0.1"]
    assert names(store.runs(where={"summary.val.acc": lambda a: a > 0.55})) == ["lr0.001", "lr0.01"]
    assert names(store.runs(where={"summary.loss": 0.1 * 1})) == ["lr0.1"]
    assert [v.experiment for v in store.runs(status="failed")] == ["other"]
    assert len(store.runs(status=["completed", "failed"])) == 4
    assert names(store.runs(tags=["baseline"])) == ["lr0.1"]
    assert names(store.runs(tags={"team": "rl"})) == ["lr0.001", "lr0.01"]
    assert names(store.runs(name="lr0.0*")) == ["lr0.001", "lr0.01"]
    assert store.runs(where={"config.missing": 1}) == []
    assert store.experiments() == ["other", "sweep"]


def test_the_catalog_is_only_a_cache(store: labtrack.Store) -> None:
    catalog = store.dir / ".labtrack-catalog.sqlite"
    first = names(store.runs(where={"config.lr": 0.01}))
    assert catalog.exists()
    catalog.unlink()
    assert names(labtrack.Store(store.dir).runs(where={"config.lr": 0.01})) == first
    assert names(labtrack.Store(store.dir, catalog=False).runs(where={"config.lr": 0.01})) == first
    catalog.write_bytes(b"this is not sqlite")  # a broken cache is ignored
    assert names(labtrack.Store(store.dir).runs(where={"config.lr": 0.01})) == first


def test_catalog_sees_changes_deletions_and_copied_in_runs(
    store: labtrack.Store, tmp_path: Path
) -> None:
    view = store.runs(where={"config.lr": 0.01})[0]
    shutil.rmtree(view.dir)
    assert store.runs(where={"config.lr": 0.01}) == []
    elsewhere = tmp_path.parent / (tmp_path.name + "-elsewhere")
    with labtrack.start_run("copied", dir=elsewhere, config={"lr": 0.01}) as run:
        run.log_metric("loss", 1.0)
    shutil.copytree(run.dir, store.dir / "imported" / run.dir.name)
    (found,) = store.runs(where={"config.lr": 0.01})
    assert found.experiment == "copied" and found.scalars("loss").values.tolist() == [1.0]
    shutil.rmtree(elsewhere)


def test_unreadable_runs_are_listed_with_the_reason(store: labtrack.Store) -> None:
    broken = store.runs(where={"config.lr": 0.001})[0]
    (broken.dir / ".labtrack" / "meta.json").write_text('{"id": "abc", "config": ')
    views = store.runs()
    bad = [v for v in views if v.status == "unreadable"]
    assert len(views) == 4 and len(bad) == 1
    assert "corrupt run metadata" in (bad[0].unreadable or "") and str(broken.dir) in (
        bad[0].unreadable or ""
    )
    assert len(store.runs(experiment="sweep")) == 2  # the rest still reads
    assert store.runs(status="unreadable")[0].dir == broken.dir
    newer = store.runs(where={"config.lr": 0.01})[0]
    meta = json.loads((newer.dir / ".labtrack" / "meta.json").read_text())
    (newer.dir / ".labtrack" / "meta.json").write_text(json.dumps({**meta, "format": 99}))
    reread = labtrack.store.open_run(newer.dir)
    assert reread.status == "unreadable" and "newer labtrack" in (reread.unreadable or "")


def test_run_by_id_prefix_or_path(store: labtrack.Store) -> None:
    view = store.runs(experiment="other")[0]
    assert store.run(view.id).dir == view.dir
    assert store.run(view.id[:6]).dir == view.dir
    assert store.run(view.dir).id == view.id
    assert store.run(view.dir.relative_to(store.dir)).id == view.id
    with pytest.raises(StoreError, match="no run with id or path 'nope'"):
        store.run("nope")
    with pytest.raises(StoreError, match="is ambiguous"):
        store.run("")


def test_missing_store_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        labtrack.Store(tmp_path / "nowhere").runs()


def test_exports(store: labtrack.Store, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    frame = store.to_pandas(tags=["loss"], experiment="sweep")
    assert list(frame.columns) == [
        "run_id",
        "experiment",
        "name",
        "tag",
        "step",
        "value",
        "wall_time",
    ]
    assert len(frame) == 30 and set(frame["name"]) == {"lr0.1", "lr0.01", "lr0.001"}
    one = store.runs(where={"config.lr": 0.01})[0].to_pandas()
    assert one["value"].tolist() == [0.01 * (10 - s) for s in range(10)]
    path = store.to_parquet(tmp_path / "all.parquet", experiment="sweep")
    assert pq.read_table(path).num_rows == 30


def test_default_store_is_env_var_then_out(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with labtrack.start_run("e") as run:
        pass
    assert run.dir.is_relative_to(workdir / "out")
    monkeypatch.setenv("LABTRACK_DIR", str(workdir / "elsewhere"))
    with labtrack.start_run("e") as moved:
        pass
    assert moved.dir.is_relative_to(workdir / "elsewhere")
    assert [v.id for v in labtrack.Store().runs()] == [moved.id]


def test_views_and_stores_pickle_for_workers_and_runs_refuse_clearly(store: labtrack.Store) -> None:
    import pickle

    view = store.runs(experiment="sweep")[0]
    view.scalars("loss")  # has read data: memoryviews inside must not leak into the pickle
    again = pickle.loads(pickle.dumps(view))
    assert (
        again.id == view.id
        and again.scalars("loss").values.tolist() == view.scalars("loss").values.tolist()
    )
    assert (
        pickle.loads(pickle.dumps(store)).runs(experiment="sweep")[0].id
        == store.runs(experiment="sweep")[0].id
    )
    with labtrack.start_run("e", dir=store.dir) as run:
        with pytest.raises(TypeError, match="cannot be sent to another process"):
            pickle.dumps(run)
