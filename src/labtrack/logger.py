"""``Logger`` and ``LogReader``: the iteration-oriented API of the seed document.

Both are thin layers over the store: a ``Logger`` is a :class:`~labtrack.Run` recorded into
exactly ``log_dir`` (so ``Store``, the CLI and the viewer see it like any run), and a
``LogReader`` answers the seed's questions (``runs``, ``iterations``, ``load_scalars`` ...) from
:class:`~labtrack.store.RunView`.

pyexp's additions are kept: ``add_figure`` takes any picklable object (matplotlib and plotly
figures are stored as figures, with their PNG and interactive rendering; anything else is
pickled, an artifact ``figures/<tag>/<it>.cpkl`` that ``load_figure`` reads back),
``add_checkpoint(tag, obj)`` pickles an object per iteration (artifacts
``checkpoints/<tag>/<it>.cpkl`` of kind ``checkpoint``), and ``reader[tag]`` is the last
``(it, value)`` of a tag.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._run import Run, start_run
from .errors import SerializationError, StoreError
from .store import RunView, find_run_dirs, is_run_dir

_CHECKPOINTS = "checkpoints"
_PICKLED_FIGURES = "figures"


class Logger:
    """Log scalars, text and figures against a global iteration counter.

    >>> logger = Logger("out/my_experiment/run1")   # doctest: +SKIP
    >>> logger.set_global_it(0); logger.add_scalar("loss", 0.5); logger.flush()  # doctest: +SKIP
    """

    def __init__(self, log_dir: str | os.PathLike[str], experiment: str | None = None) -> None:
        path = Path(log_dir)
        self.log_dir = path
        self.run: Run = start_run(
            experiment or (path.absolute().parent.name or "default"),
            name=path.name or None,
            run_dir=path,
        )
        self.global_it = 0

    @classmethod
    def of_run(cls, run: Run) -> Logger:
        """A logger writing to an open run (what ``def exp(config, logger)`` receives)."""
        logger = cls.__new__(cls)
        logger.log_dir = Path(run.dir)
        logger.run = run
        logger.global_it = 0
        return logger

    def set_global_it(self, it: int) -> None:
        """Set the iteration that following ``add_*`` calls are recorded at."""
        if isinstance(it, bool) or not isinstance(it, int) or it < 0:
            raise ValueError(f"global iteration must be an int >= 0, got {it!r}")
        self.global_it = it

    def add_scalar(self, tag: str, value: Any) -> None:
        self.run.log_metric(tag, value, step=self.global_it)

    def add_text(self, tag: str, text: str) -> None:
        self.run.log_text(tag, text, step=self.global_it)

    def add_figure(self, tag: str, figure: Any, interactive: bool = True) -> None:
        """Log a figure; a matplotlib or plotly one is drawn by the viewer, any other
        picklable object is kept for :meth:`LogReader.load_figure` (as pyexp does)."""
        if type(figure).__module__.startswith("plotly") or hasattr(figure, "savefig"):
            self.run.log_figure(tag, figure, step=self.global_it, interactive=interactive)
        else:
            self._pickle(_PICKLED_FIGURES, "figure", tag, figure)

    def add_checkpoint(self, tag: str, obj: Any) -> None:
        """Pickle ``obj`` (cloudpickle) as checkpoint ``tag`` of the current iteration."""
        self._pickle(_CHECKPOINTS, "checkpoint", tag, obj)

    def _pickle(self, folder: str, kind: Any, tag: str, obj: Any) -> None:
        import cloudpickle

        if not isinstance(tag, str) or not tag or ".." in tag.split("/"):
            raise ValueError(f"tag must be a non-empty str without '..', got {tag!r}")
        try:
            payload = cloudpickle.dumps(obj)
        except Exception as exc:
            raise SerializationError(f"{kind} {tag!r} cannot be pickled: {exc}") from exc
        name = f"{folder}/{tag}/{self.global_it}.cpkl"
        path = Path(self.run.dir) / "artifacts" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(payload)
        os.replace(tmp, path)
        meta = {"logger": folder, "tag": tag, "iteration": self.global_it}
        self.run.log_artifact(path, name=name, kind=kind, metadata=meta, step=self.global_it)

    def add_image(self, tag: str, image: Any) -> None:
        self.run.log_image(tag, image, step=self.global_it)

    def flush(self) -> None:
        """Wait until everything logged so far is on disk."""
        self.run.flush()

    def close(self, status: str = "completed") -> None:
        self.run.finish(status)

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.run.__exit__(exc_type, None, None)


class LogReader:
    """Explore a folder of runs, or one run, the way the seed document describes."""

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        self.path = Path(log_dir)
        self._view: RunView | None = RunView(self.path) if is_run_dir(self.path) else None

    def __repr__(self) -> str:
        return f"LogReader({str(self.path)!r})"

    @property
    def is_run(self) -> bool:
        return self._view is not None

    @property
    def runs(self) -> list[str]:
        """Run directories below this one, as paths relative to it (``['run1', 'run2']``)."""
        if self._view is not None:
            return []
        return sorted(str(p.relative_to(self.path)) for p in find_run_dirs(self.path))

    def get_run(self, name: str) -> LogReader:
        path = self.path / name
        if not is_run_dir(path):
            raise StoreError(f"{path} is not a labtrack run; runs here: {self.runs}")
        return LogReader(path)

    @property
    def view(self) -> RunView:
        if self._view is None:
            raise StoreError(f"{self.path} is not a run (use .runs and .get_run(name))")
        return self._view

    @property
    def iterations(self) -> list[int]:
        """Every iteration at which anything was logged, sorted."""
        view = self.view
        steps: set[int] = set()
        for tag in view.scalar_tags:
            steps.update(int(s) for s in view.scalars(tag).steps)
        for tag in view.text_tags:
            steps.update(e.step for e in view.text(tag))
        for tag in view.figure_tags:
            steps.update(e.step for e in view.figures(tag))
        for folder in (_PICKLED_FIGURES, _CHECKPOINTS):
            for its in self._pickled(folder).values():
                steps.update(its)
        return sorted(steps)

    @property
    def scalar_tags(self) -> set[str]:
        return set(self.view.scalar_tags)

    @property
    def text_tags(self) -> set[str]:
        return set(self.view.text_tags)

    @property
    def figure_tags(self) -> set[str]:
        return set(self.view.figure_tags) | set(self._pickled(_PICKLED_FIGURES))

    @property
    def checkpoint_tags(self) -> set[str]:
        """Tags given to :meth:`Logger.add_checkpoint`."""
        return set(self._pickled(_CHECKPOINTS))

    def checkpoint_iterations(self, tag: str) -> list[int]:
        """Iterations at which checkpoint ``tag`` was saved, sorted."""
        return sorted(self._pickled(_CHECKPOINTS).get(tag, {}))

    def load_checkpoint(self, tag: str, it: int | None = None) -> Any:
        """Unpickle checkpoint ``tag`` of iteration ``it`` (the last one when None).

        Unpickling runs code from the file: load only checkpoints you trust."""
        return _unpickle(self._pickled_path(_CHECKPOINTS, "checkpoint", tag, it))

    def load_checkpoints(self, tag: str) -> list[tuple[int, Any]]:
        """Every ``(iteration, object)`` of checkpoint ``tag``, in iteration order."""
        paths = self._pickled(_CHECKPOINTS).get(tag, {})
        return [(it, _unpickle(paths[it])) for it in sorted(paths)]

    def __getitem__(self, tag: str) -> tuple[int, Any]:
        """The last ``(iteration, value)`` of ``tag``, searching scalars, text, figures,
        then checkpoints (pyexp's order).

        Raises:
            KeyError: no scalar, text, figure or checkpoint has this tag.
        """
        if tag in self.scalar_tags:
            return self.load_scalars(tag)[-1]
        if tag in self.text_tags:
            return self.load_text(tag)[-1]
        if tag in self.figure_tags:
            it = self.figure_iterations(tag)[-1]
            return it, self.load_figure(tag, it)
        if tag in self.checkpoint_tags:
            it = self.checkpoint_iterations(tag)[-1]
            return it, self.load_checkpoint(tag, it)
        raise KeyError(f"{self.path} has no scalar, text, figure or checkpoint {tag!r}")

    def _pickled(self, folder: str) -> dict[str, dict[int, Path]]:
        found: dict[str, dict[int, Path]] = {}
        for entry in self.view.artifacts():
            meta = entry.metadata or {}
            if meta.get("logger") == folder and isinstance(meta.get("iteration"), int):
                found.setdefault(str(meta.get("tag")), {})[meta["iteration"]] = entry.path
        return found

    def _pickled_path(self, folder: str, what: str, tag: str, it: int | None) -> Path:
        paths = self._pickled(folder).get(tag)
        if not paths:
            raise KeyError(f"{self.path} has no {what} {tag!r}")
        if it is None:
            it = max(paths)
        if it not in paths:
            raise KeyError(f"{what} {tag!r} has no iteration {it}; iterations: {sorted(paths)}")
        return paths[it]

    def load_scalars(self, tag: str) -> list[tuple[int, float]]:
        series = self.view.scalars(tag)
        return list(zip(series.steps.tolist(), series.values.tolist(), strict=True))

    def load_text(self, tag: str) -> list[tuple[int, str]]:
        return [(e.step, e.text) for e in self.view.text(tag)]

    def load_figure(self, tag: str, iteration: int | None = None) -> Any:
        """The figure (or pickled object) of ``tag`` at ``iteration`` (the last when None)."""
        if tag not in self.view.figure_tags:
            return _unpickle(self._pickled_path(_PICKLED_FIGURES, "figure", tag, iteration))
        return self.view.load_figure(tag, iteration)

    def figure_iterations(self, tag: str) -> list[int]:
        """Iterations at which figure ``tag`` was logged, sorted."""
        if tag not in self.view.figure_tags:
            return sorted(self._pickled(_PICKLED_FIGURES).get(tag, {}))
        return [e.step for e in self.view.figures(tag)]


def _unpickle(path: Path) -> Any:
    import cloudpickle

    with open(path, "rb") as fh:
        return cloudpickle.load(fh)
