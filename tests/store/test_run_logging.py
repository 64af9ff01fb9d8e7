"""Recording a run: what goes in comes back out, exactly."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import labtrack
from labtrack.errors import ConfigError, StoreError


def test_log_and_read_back(workdir: Path) -> None:
    with labtrack.start_run(
        "mnist", name="baseline", config={"lr": 0.01, "model": {"width": 64}}
    ) as run:
        assert labtrack.current_run() is run
        for step in range(100):
            run.log({"train/loss": 1 / (step + 1), "train/acc": step / 100}, step=step)
        run.log_metric("eval/acc", 0.9, step=99)
    assert labtrack.current_run() is None

    view = labtrack.Store().run(run.id)
    assert (view.experiment, view.name, view.status) == ("mnist", "baseline", "completed")
    assert view.config == {"lr": 0.01, "model": {"width": 64}}
    steps, values, walls = view.scalars("train/loss")
    assert steps.dtype == np.int64 and values.dtype == np.float64
    assert steps.tolist() == list(range(100))
    assert values.tolist() == [1 / (s + 1) for s in range(100)]
    assert np.all(np.diff(walls) >= 0)
    assert view.scalar_tags == ["train/loss", "train/acc", "eval/acc"]
    assert view.summary["eval/acc"] == 0.9
    assert view.metrics["train/loss"] == {
        "last": 0.01,
        "min": 0.01,
        "max": 1.0,
        "count": 100,
        "step": 99,
    }
    assert view.dir == run.dir and run.dir.parent == (workdir / "out" / "mnist").absolute()


def test_steps_continue_per_tag_when_not_given(workdir: Path) -> None:
    with labtrack.start_run("e") as run:
        for _ in range(3):
            run.log_metric("a", 1.0)
        run.log_metric("a", 2.0, step=10)
        run.log_metric("a", 3.0)
        run.log({"b": 1.0})
        run.log({"b": 1.0})
    view = labtrack.Store().run(run.id)
    assert view.scalars("a").steps.tolist() == [0, 1, 2, 10, 11]
    assert view.scalars("b").steps.tolist() == [0, 1]


def test_repeated_and_descending_steps_read_back_as_logged(workdir: Path) -> None:
    with labtrack.start_run("e") as run:
        for value in range(5):
            run.log_metric("same", float(value), step=7)
        for step in (9, 6, 3, 0):
            run.log_metric("down", float(step), step=step)
    view = labtrack.Store().run(run.id)
    assert view.scalars("same").steps.tolist() == [7] * 5
    assert view.scalars("same").values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert view.scalars("down").steps.tolist() == [9, 6, 3, 0]


def test_mixing_log_and_log_metric_keeps_logging_order(workdir: Path) -> None:
    with labtrack.start_run("e") as run:
        for step in range(6):
            if step % 2:
                run.log({"x": float(step)}, step=step)
            else:
                run.log_metric("x", float(step), step=step)
        run.log_metric("x", 6.0)  # continues after the last step logged through log()
    assert labtrack.Store().run(run.id).scalars("x").steps.tolist() == list(range(7))


def test_numbers_of_every_kind_are_accepted(workdir: Path) -> None:
    with labtrack.start_run("e") as run:
        run.log(
            {
                "int": 3,
                "bool": True,
                "f32": np.float32(0.5),
                "i64": np.int64(7),
                "zero_d": np.array(2.5),
                "one_elem": np.array([4.0]),
            },
            step=0,
        )
    view = labtrack.Store().run(run.id)
    got = {tag: view.scalars(tag).values[0] for tag in view.scalar_tags}
    assert got == {"int": 3.0, "bool": 1.0, "f32": 0.5, "i64": 7.0, "zero_d": 2.5, "one_elem": 4.0}


def test_nan_and_infinities_are_stored_exactly(workdir: Path) -> None:
    with labtrack.start_run("e") as run:
        run.log_metric("v", float("nan"))
        run.log_metric("v", float("inf"))
        run.log_metric("v", float("-inf"))
        run.log_metric("v", 1.5)
    values = labtrack.Store().run(run.id).scalars("v").values
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf
    assert values[3] == 1.5


@pytest.mark.parametrize("value", ["0.5", None, [1.0, 2.0], np.ones(3), {"a": 1}, 1 + 2j])
def test_non_numeric_values_raise_type_error_naming_the_tag(workdir: Path, value: object) -> None:
    with labtrack.start_run("e") as run:
        with pytest.raises(TypeError, match="'train/loss'"):
            run.log_metric("train/loss", value)
        with pytest.raises(TypeError, match="'bad'"):
            run.log({"ok": 1.0, "bad": value}, step=0)


def test_bad_tags_and_steps_are_refused(workdir: Path) -> None:
    with labtrack.start_run("e") as run:
        with pytest.raises(ValueError, match="must not be empty"):
            run.log_metric("", 1.0)
        with pytest.raises(ValueError, match="limit is 256"):
            run.log_metric("x" * 300, 1.0)
        with pytest.raises(TypeError, match="must be a str"):
            run.log_metric(3, 1.0)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"step for tag 'loss' must be >= 0, got -1"):
            run.log_metric("loss", 1.0, step=-1)
        with pytest.raises(TypeError, match="step for tag 'loss' must be an int"):
            run.log_metric("loss", 1.0, step=1.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="must be >= 0"):
            run.log({"loss": 1.0}, step=-3)
        run.log_metric("loss", 2.0, step=np.int64(4))  # numpy integers are fine
    assert labtrack.Store().run(run.id).scalars("loss").steps.tolist() == [4]


def test_unstorable_config_names_the_key_path(workdir: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"config\.optimizer\.betas\[1\]: cannot store a value of type object"
    ):
        labtrack.start_run("e", config={"optimizer": {"betas": [0.9, object()]}})
    with pytest.raises(ConfigError, match=r"config\.layers: keys must be str"):
        labtrack.start_run("e", config={"layers": {1: "a"}})
    with labtrack.start_run("e") as run:
        with pytest.raises(ConfigError, match=r"params\.fn"):
            run.log_params({"fn": print})
    assert labtrack.Store().runs(experiment="e")[0].status == "completed"


def test_config_values_of_common_types_are_normalised(workdir: Path) -> None:
    config = {
        "path": Path("/data"),
        "arr": np.arange(3),
        "f": np.float64(0.1),
        "t": (1, 2),
        "nan": float("nan"),
    }
    with labtrack.start_run("e", config=config) as run:
        run.log_params({"seed": 1, "nested": {"a": True}})
    view = labtrack.Store().run(run.id)
    assert view.config["path"] == "/data" and view.config["arr"] == [0, 1, 2]
    assert view.config["t"] == [1, 2] and math.isnan(view.config["nan"])
    assert view.params == {"seed": 1, "nested": {"a": True}}


def test_text_summary_tags(workdir: Path) -> None:
    with labtrack.start_run("e", tags=["baseline"]) as run:
        run.log_text("sample", "hello")
        run.log_text("sample", "world", step=5)
        run.summary["best"] = 0.9
        run.summary["train/loss"] = 0.1  # a user-set summary value wins over the last point
        run.log_metric("train/loss", 0.5)
        run.set_tags({"team": "rl"})
        with pytest.raises(TypeError, match="text for tag 'sample' must be a str"):
            run.log_text("sample", 3)  # type: ignore[arg-type]
    view = labtrack.Store().run(run.id)
    assert [(e.step, e.text) for e in view.text("sample")] == [(0, "hello"), (5, "world")]
    assert view.summary == {"train/loss": 0.1, "best": 0.9}
    assert view.tags == {"baseline": "", "team": "rl"}


def test_figures_images_and_artifacts(workdir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2])
    model = workdir / "model.bin"
    model.write_bytes(b"\x01" * 1000)
    with labtrack.start_run("e") as run:
        run.log_figure("curves/train", fig, step=3, interactive=False)
        run.log_image("frame", np.zeros((8, 10, 3), dtype=np.uint8))
        run.log_image("frame", np.ones((3, 8, 10)))  # CxHxW floats in [0, 1]
        frames = np.stack([np.full((8, 8, 3), 60 * i, dtype=np.uint8) for i in range(4)])
        run.log_image("episode", frames, fps=5)  # animated GIF
        copy = run.log_artifact(model, kind="model", metadata={"epoch": 3})
        with pytest.raises(
            ValueError, match="artifact kind 'weights' is not one of model, checkpoint"
        ):
            run.log_artifact(model, kind="weights")  # type: ignore[arg-type]
        with pytest.raises(FileNotFoundError, match="missing.bin"):
            run.log_artifact(workdir / "missing.bin")
        with pytest.raises(TypeError, match="image for tag 'bad' must be a numpy array"):
            run.log_image("bad", {"not": "an image"})
        with pytest.raises(ValueError, match="image file for tag 'bad' must be one of .png"):
            run.log_image("bad", "notes.txt")
        with pytest.raises(ValueError, match=r"got shape \(2, 2, 2, 2, 2\)"):
            run.log_image("frame", np.zeros((2, 2, 2, 2, 2)))
    plt.close(fig)

    view = labtrack.Store().run(run.id)
    assert view.figure_tags == ["curves/train"]
    entry = view.figures("curves/train")[0]
    assert entry.step == 3 and not entry.interactive and entry.png is not None
    assert Image.open(entry.png).format == "PNG"
    again = view.load_figure("curves/train", 3)
    assert again.axes[0].lines[0].get_ydata().tolist() == [3, 1, 2]
    frames = view.images("frame")
    assert [f.step for f in frames] == [0, 1]
    assert Image.open(frames[1].path).getpixel((0, 0)) == (255, 255, 255)
    gif = Image.open(view.images("episode")[0].path)
    assert gif.format == "GIF" and gif.n_frames == 4
    (artifact,) = view.artifacts()
    assert artifact.kind == "model" and artifact.size == 1000 and artifact.metadata == {"epoch": 3}
    assert artifact.path == copy and copy.read_bytes() == model.read_bytes()
    assert artifact.sha256 is not None and len(artifact.sha256) == 64


def test_finish_is_idempotent_and_logging_after_it_is_refused(workdir: Path) -> None:
    run = labtrack.start_run("e")
    run.log_metric("a", 1.0)
    run.finish("failed")
    run.finish()  # no effect
    with pytest.raises(StoreError, match="is finished"):
        run.log_metric("a", 2.0)
    with pytest.raises(StoreError, match="is finished"):
        run.log({"a": 2.0}, step=3)
    with pytest.raises(ValueError, match="status must be one of completed, failed, killed"):
        labtrack.start_run("e").finish("done")
    assert labtrack.Store().run(run.id).status == "failed"


def test_context_manager_sets_failed_and_killed(workdir: Path) -> None:
    with pytest.raises(RuntimeError), labtrack.start_run("e", name="boom") as failing:
        raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt), labtrack.start_run("e", name="ctrl-c") as stopped:
        raise KeyboardInterrupt
    store = labtrack.Store()
    assert store.run(failing.id).status == "failed"
    assert store.run(stopped.id).status == "killed"


def test_flush_makes_data_visible_to_a_reader_while_running(workdir: Path) -> None:
    run = labtrack.start_run("e", flush_interval=60)  # the background thread will not help
    view = labtrack.store.open_run(run.dir)
    assert view.status == "running" and view.scalar_tags == []
    run.log_metric("a", 1.0)
    run.flush()
    assert view.scalars("a").values.tolist() == [1.0]
    run.log_metric("a", 2.0)
    run.flush()
    assert view.scalars("a").values.tolist() == [1.0, 2.0]  # same view, new data
    run.finish()
    assert view.refresh().status == "completed"


def test_series_spread_over_big_and_small_blocks_reads_back_exactly(workdir: Path) -> None:
    # Blocks bigger than one read, tiny ones read together, other tags' bytes in between:
    # every way the reader groups its reads gives back exactly what was logged.
    rng = np.random.default_rng(0)
    logged: dict[str, list[np.ndarray]] = {"big": [], "small": []}
    with labtrack.start_run("e", flush_interval=60) as run:
        step = 0
        for size in [150_000, 3, 1, 120_000, 5, 5, 5]:
            for tag in ("big", "small") if size > 10 else ("small",):
                values = rng.normal(size=size)
                logged[tag].append(values)
                for i, value in enumerate(values.tolist()):
                    run.log_metric(tag, value, step=step + i)
            step += size
            run.flush()
    view = labtrack.store.open_run(run.dir)
    for tag, parts in logged.items():
        np.testing.assert_array_equal(view.scalars(tag).values, np.concatenate(parts))
    assert view.problems == []


def test_release_frees_decoded_points_and_they_are_read_again(workdir: Path) -> None:
    run = labtrack.start_run("e", flush_interval=60)
    for step in range(1000):
        run.log({"a": float(step), "b": -float(step)}, step=step)
    run.flush()
    view = labtrack.store.open_run(run.dir)
    assert view.scalar_count("a") == 1000 and view.scalar_count("nope") == 0  # nothing decoded
    before = view.scalars("a").values.copy()
    view.scalars("b")
    view.release("a")  # one tag
    run.log_metric("a", 1000.0, step=1000)  # the run goes on meanwhile
    run.flush()
    assert view.scalar_count("a") == 1001
    assert view.scalars("a").values.tolist() == [*before.tolist(), 1000.0]
    view.release()  # every tag
    assert len(view.scalars("b").values) == 1000
    view.release("not-a-tag")  # nothing to free is not an error
    run.finish()


def test_background_thread_persists_without_flush(workdir: Path) -> None:
    import time

    run = labtrack.start_run("e", flush_interval=0.05)
    run.log_metric("a", 1.0)
    view = labtrack.store.open_run(run.dir)
    deadline = time.monotonic() + 5
    while "a" not in view.scalar_tags and time.monotonic() < deadline:
        time.sleep(0.01)
    assert view.scalars("a").values.tolist() == [1.0]
    run.finish()


def test_backpressure_bounds_memory(workdir: Path) -> None:
    import tracemalloc

    run = labtrack.start_run("e", max_pending=1000, backpressure="block", flush_interval=60)
    tracemalloc.start()
    for i in range(100_000):  # unbounded, these points would hold about 10 MB
        run.log_metric("a", float(i))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2_000_000  # the writer was woken to persist every ~1000 points
    run.finish()
    assert len(labtrack.Store().run(run.id).scalars("a").values) == 100_000 - run.dropped

    dropping = labtrack.start_run("e", max_pending=10, backpressure="drop")
    for i in range(100):
        dropping.log_metric("a", float(i))
    dropping.finish()
    kept = len(labtrack.Store().run(dropping.id).scalars("a").values)
    assert kept + dropping.dropped == 100 and dropping.dropped > 0


def test_torch_scalars_without_importing_torch_for_others(workdir: Path) -> None:
    torch = pytest.importorskip("torch")
    with labtrack.start_run("e") as run:
        run.log({"t": torch.tensor(1.5), "t1": torch.tensor([2.0])}, step=0)
        with pytest.raises(TypeError, match="'vec'"):
            run.log_metric("vec", torch.ones(3))
    view = labtrack.Store().run(run.id)
    assert view.scalars("t").values.tolist() == [1.5] and view.scalars("t1").values.tolist() == [
        2.0
    ]


def test_log_points_keeps_the_given_wall_times_and_order(workdir: Path) -> None:
    import numpy as np

    with labtrack.start_run("e") as run:
        run.log_metric("loss", 9.0, step=0)
        run.log_points("loss", [5, 3, 7], [0.5, 0.3, 0.7], [1000.0, 999.0, 1001.0])
        run.log_metric("loss", 1.0)  # continues after the largest step given
        with pytest.raises(ValueError, match="3 steps, 2 values"):
            run.log_points("loss", [1, 2, 3], [1.0, 2.0], [1.0, 2.0, 3.0])
        with pytest.raises(TypeError, match="must be integers"):
            run.log_points("loss", [1.5], [1.0], [1.0])
        with pytest.raises(ValueError, match="finite"):
            run.log_points("loss", [1], [1.0], [float("nan")])
        run.log_points("big", np.arange(3_000_000), np.ones(3_000_000), np.full(3_000_000, 5.0))
    view = labtrack.store.open_run(run.dir)
    steps, values, walls = view.scalars("loss")
    assert steps.tolist() == [0, 5, 3, 7, 8]
    assert values.tolist() == [9.0, 0.5, 0.3, 0.7, 1.0]
    assert walls[1:4].tolist() == [1000.0, 999.0, 1001.0]
    assert view.scalar_count("big") == 3_000_000 and view.scalars("big").steps[-1] == 2_999_999


def test_wall_times_spread_over_days_are_kept_to_the_microsecond(workdir: Path) -> None:
    import numpy as np

    walls = 1.7e9 + np.array([0.0, 3600.123456, 86400 * 3 + 0.000001])
    with labtrack.start_run("e") as run:
        run.log_points("t", [0, 1, 2], [1.0, 2.0, 3.0], walls)
    got = labtrack.store.open_run(run.dir).scalars("t").wall_times
    assert got.tolist() == walls.tolist()


def test_live_wall_times_round_to_float32_offsets_as_numpy_does(workdir: Path) -> None:
    """Live points keep their wall time as a float32 offset from the record's base time; the
    writer packs them without numpy, and they must read back exactly as numpy rounds them."""
    base = 1.7e9 + 0.123456789
    walls = [base + 0.01 * k + 1e-7 * (k % 7) for k in range(500)]  # a 5 s span
    with labtrack.start_run("e") as run:
        run.log_points("t", list(range(500)), [0.0] * 500, walls)
        for k, wall in enumerate(walls):
            run.log_metric("live", 1.0, step=k)  # its wall is now: only its span matters
    view = labtrack.store.open_run(run.dir)
    got = view.scalars("t").wall_times
    offsets = (np.array(walls) - base).astype(np.float32).astype(np.float64)
    assert got.tolist() == (offsets + base).tolist()
    assert view.scalar_count("live") == 500


def test_summary_min_and_max_ignore_nan_across_flushes(workdir: Path) -> None:
    with labtrack.start_run("e") as run:
        run.log({"a": math.nan, "b": 2.0})
        run.flush()
        run.log({"a": 3.0, "b": math.nan})
        run.log_metric("a", -1.0)
        run.flush()
        run.log({"a": math.nan, "b": 5.0})
    metrics = labtrack.store.open_run(run.dir).metrics
    assert (metrics["a"]["min"], metrics["a"]["max"], metrics["a"]["count"]) == (-1.0, 3.0, 4)
    assert (metrics["b"]["min"], metrics["b"]["max"]) == (2.0, 5.0)
    assert math.isnan(metrics["a"]["last"])
