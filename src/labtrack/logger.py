"""``Logger`` and ``LogReader``: the iteration-oriented API of the seed document.

Both are thin layers over the store: a ``Logger`` is a :class:`~labtrack.Run` recorded into
exactly ``log_dir`` (so ``Store``, the CLI and the viewer see it like any run), and a
``LogReader`` answers the seed's questions (``runs``, ``iterations``, ``load_scalars`` ...) from
:class:`~labtrack.store.RunView`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._run import Run, start_run
from .errors import StoreError
from .store import RunView, find_run_dirs, is_run_dir


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
        self.run.log_figure(tag, figure, step=self.global_it, interactive=interactive)

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
        return sorted(steps)

    @property
    def scalar_tags(self) -> set[str]:
        return set(self.view.scalar_tags)

    @property
    def text_tags(self) -> set[str]:
        return set(self.view.text_tags)

    @property
    def figure_tags(self) -> set[str]:
        return set(self.view.figure_tags)

    def load_scalars(self, tag: str) -> list[tuple[int, float]]:
        series = self.view.scalars(tag)
        return list(zip(series.steps.tolist(), series.values.tolist(), strict=True))

    def load_text(self, tag: str) -> list[tuple[int, str]]:
        return [(e.step, e.text) for e in self.view.text(tag)]

    def load_figure(self, tag: str, iteration: int | None = None) -> Any:
        return self.view.load_figure(tag, iteration)

    def figure_iterations(self, tag: str) -> list[int]:
        return [e.step for e in self.view.figures(tag)]
