"""The iteration-oriented Logger / LogReader API, as the seed document uses it."""

from __future__ import annotations

from pathlib import Path

import pytest

import labtrack
from labtrack import Logger, LogReader
from labtrack.errors import StoreError


def test_logger_and_reader_round_trip(workdir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logger = Logger("out/my_experiment/run1")
    for epoch in range(4):
        logger.set_global_it(epoch)
        logger.add_scalar("loss", 1.0 / (epoch + 1))
        logger.add_scalar("accuracy", epoch / 4)
        logger.add_text("sample_output", f"epoch {epoch}")
        if epoch % 2 == 0:
            fig, ax = plt.subplots()
            ax.plot([0, epoch])
            logger.add_figure("training_curve", fig, interactive=False)
            plt.close(fig)
    logger.flush()
    Logger("out/my_experiment/run2").add_scalar("loss", 3.0)

    reader = LogReader("out/my_experiment")
    assert reader.runs == ["run1", "run2"] and not reader.is_run
    run = reader.get_run("run1")
    assert run.is_run
    assert run.iterations == [0, 1, 2, 3]
    assert run.scalar_tags == {"loss", "accuracy"}
    assert run.text_tags == {"sample_output"} and run.figure_tags == {"training_curve"}
    assert run.load_scalars("loss") == [(0, 1.0), (1, 0.5), (2, 1 / 3), (3, 0.25)]
    assert run.load_text("sample_output")[1] == (1, "epoch 1")
    assert run.figure_iterations("training_curve") == [0, 2]
    fig = run.load_figure("training_curve", iteration=2)
    assert fig.axes[0].lines[0].get_ydata().tolist() == [0, 2]
    with pytest.raises(StoreError, match="runs here"):
        reader.get_run("run3")

    # a Logger's directory is an ordinary run: the Store and the status see it
    logger.close()
    (view,) = labtrack.Store("out").runs(name="run1")
    assert view.experiment == "my_experiment" and view.status == "completed"


def test_logger_rejects_bad_iterations(workdir: Path) -> None:
    logger = Logger("out/e/r")
    with pytest.raises(ValueError, match="global iteration must be an int >= 0, got -1"):
        logger.set_global_it(-1)
    logger.close()


def test_pyexp_logger_additions_any_picklable_figure_and_checkpoints(workdir: Path) -> None:
    logger = Logger("out/exp/run1")
    for it in range(3):
        logger.set_global_it(it)
        logger.add_scalar("loss", 1.0 / (it + 1))
        logger.add_text("note", f"it {it}")
        logger.add_figure("points", {"x": [0, it]})  # not a figure: pickled, as pyexp does
        logger.add_checkpoint("model", {"weights": [it, it]})
    logger.close()
    reader = LogReader("out/exp/run1")
    assert reader.figure_tags == {"points"} and reader.checkpoint_tags == {"model"}
    assert reader.figure_iterations("points") == [0, 1, 2]
    assert reader.load_figure("points", 1) == {"x": [0, 1]}
    assert reader.checkpoint_iterations("model") == [0, 1, 2]
    assert reader.load_checkpoint("model", 2) == {"weights": [2, 2]}
    assert reader.load_checkpoint("model") == {"weights": [2, 2]}  # the last by default
    assert reader.load_checkpoints("model") == [(i, {"weights": [i, i]}) for i in range(3)]
    assert reader.iterations == [0, 1, 2]
    with pytest.raises(KeyError, match="no iteration 7"):
        reader.load_checkpoint("model", 7)


def test_reader_getitem_is_the_last_value_searching_scalars_text_figures_checkpoints(
    workdir: Path,
) -> None:
    logger = Logger("out/exp/run2")
    logger.set_global_it(4)
    logger.add_scalar("loss", 0.25)
    logger.add_text("loss_text", "low")
    logger.add_figure("fig", [1, 2, 3])
    logger.add_checkpoint("ckpt", "state")
    logger.add_text("shared", "text wins over a checkpoint")
    logger.add_checkpoint("shared", "checkpoint")
    logger.close()
    reader = LogReader("out/exp/run2")
    assert reader["loss"] == (4, 0.25)
    assert reader["loss_text"] == (4, "low")
    assert reader["fig"] == (4, [1, 2, 3])
    assert reader["ckpt"] == (4, "state")
    assert reader["shared"] == (4, "text wins over a checkpoint")
    with pytest.raises(KeyError, match="no scalar, text, figure or checkpoint 'absent'"):
        reader["absent"]


def test_a_matplotlib_figure_keeps_its_png_rendering(workdir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logger = Logger("out/exp/run3")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    logger.add_figure("curve", fig, interactive=False)
    plt.close(fig)
    logger.close()
    (entry,) = LogReader("out/exp/run3").view.figures("curve")
    assert entry.png is not None and Path(entry.png).read_bytes()[:4] == b"\x89PNG"
