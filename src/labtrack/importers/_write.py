"""Merge a :class:`SourceRun` into the store, idempotently (see the package docstring).

The run directory is ``<into>/<experiment>/<name>-<sha256(source key)[:10]>``: importing the same
source again finds it; the tag ``import.source`` holds the key itself, checked on every import.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .._run import Run, start_run
from ..store import RunView, is_run_dir, open_run
from ._base import ImportReport, RunImport, SourceRun, progress

log = logging.getLogger("labtrack")
T = TypeVar("T")

SOURCE_TAG = "import.source"
KIND_TAG = "import.kind"

_IMAGE_SUFFIXES = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"GIF8", ".gif"))


def import_all(
    items: list[T],
    read: Callable[[T], SourceRun],
    describe: Callable[[T], tuple[str, str]],
    into: Path,
    title: str,
    show: bool | None,
) -> ImportReport:
    """Read and write each source run in turn; ``describe(item)`` is its (source key, name).

    The one failure boundary of an import: a run that cannot be read or written (a corrupt
    file, an artifact that cannot be downloaded, a run directory another process writes) is
    recorded as failed with the reason, and every other run still imports.
    """
    report = ImportReport()
    with progress(items, title, show) as each:
        for item in each:
            try:
                report.runs.append(write_run(read(item), into))
            except Exception as exc:  # the boundary above: one run must not cost the others
                key, name = describe(item)
                log.debug("importing %s failed", key, exc_info=True)
                error = str(exc) or type(exc).__name__
                report.runs.append(RunImport(key, name, "failed", error=error))
    return report


def store_dir(into: str | Path | None) -> Path:
    """The store to import into: ``into``, else ``$LABTRACK_DIR`` or ``./out``."""
    if into is not None:
        return Path(into)
    from .._env import default_store_dir

    return default_store_dir()


def safe_experiment(name: str, default: str) -> str:
    """An experiment name the store accepts (no path separators)."""
    return name.replace("/", "_").replace("\\", "_").strip(".") or default


def run_dir_for(into: Path, src: SourceRun) -> Path:
    """Where ``src`` is imported to: derived from its source key, so the same on every import."""
    digest = hashlib.sha256(src.key.encode()).hexdigest()[:10]
    return into / _slug(src.experiment) / f"{_slug(src.name)}-{digest}"


def _slug(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in name).strip(".")
    return cleaned[:80] or "run"


def write_run(src: SourceRun, into: Path) -> RunImport:
    """Create or extend the labtrack run of ``src``; only what the run does not hold yet is
    written, and a run with nothing new is not opened at all."""
    run_dir = run_dir_for(into, src)
    tags = {**src.tags, SOURCE_TAG: src.key, KIND_TAG: src.kind}
    view = open_run(run_dir) if is_run_dir(run_dir) else None
    result = RunImport(src.key, src.name, "created", run_dir, skipped=dict(src.skipped))
    if view is not None:
        if view.unreadable:
            return _failed(result, f"{run_dir} holds an unreadable run: {view.unreadable}")
        if view.tags.get(SOURCE_TAG) != src.key:
            return _failed(result, f"{run_dir} holds another source: {view.tags.get(SOURCE_TAG)}")
        result.outcome = "updated"
    plan = _Plan(src, view)
    if view is not None and plan.empty and _same_meta(view, src, tags):
        result.outcome = "unchanged"
        return result
    run = start_run(
        src.experiment,
        name=src.name,
        config=src.config,
        tags=tags,
        run_dir=run_dir,
        capture_exit=False,
    )
    try:
        _write(run, src, plan, result)
    except BaseException as exc:
        run.finish("failed", error=exc)
        raise
    start, end = _times(src)
    run.finish(src.status, start_time=start, end_time=end)
    return result


def _times(src: SourceRun) -> tuple[float | None, float | None]:
    """The source's start and end, else the first and last wall time of what it logged."""
    walls = [
        w
        for series in src.scalars.values()
        if series.walls
        for w in (min(series.walls), max(series.walls))
    ]
    walls += [w for entries in src.text.values() for _, w, _ in entries]
    start = src.start_time if src.start_time is not None else min(walls, default=None)
    end = src.end_time if src.end_time is not None else max(walls, default=None)
    return start, end


def _failed(result: RunImport, error: str) -> RunImport:
    result.outcome = "failed"
    result.error = error
    return result


class _Plan:
    """What of ``src`` the existing run lacks: per tag, the index of the first new item."""

    def __init__(self, src: SourceRun, view: RunView | None) -> None:
        self.scalars: dict[str, int] = {}
        self.text: dict[str, int] = {}
        self.images: dict[str, int] = {}
        have_scalars = set(view.scalar_tags) if view is not None else set()
        have_text = set(view.text_tags) if view is not None else set()
        have_images = set(view.image_tags) if view is not None else set()
        for tag, series in src.scalars.items():
            have = view.scalar_count(tag) if view is not None and tag in have_scalars else 0
            if len(series.steps) > have:
                self.scalars[tag] = have
        for tag, entries in src.text.items():
            have = len(view.text(tag)) if view is not None and tag in have_text else 0
            if len(entries) > have:
                self.text[tag] = have
        for tag, images in src.images.items():
            have = len(view.images(tag)) if view is not None and tag in have_images else 0
            if len(images) > have:
                self.images[tag] = have
        names = {a.name for a in view.artifacts()} if view is not None else set()
        self.artifacts = [a for a in src.artifacts if a.name not in names]

    @property
    def empty(self) -> bool:
        return not (self.scalars or self.text or self.images or self.artifacts)


def _same_meta(view: RunView, src: SourceRun, tags: dict[str, str]) -> bool:
    """Whether the run already records the source's params, config, tags, summary and status."""
    return (
        view.status == src.status
        and all(view.params.get(k) == v for k, v in src.params.items())
        and all(view.config.get(k) == v for k, v in src.config.items())
        and all(view.tags.get(k) == v for k, v in tags.items())
        and all(view.summary.get(k) == v for k, v in src.summary.items())
    )


def _write(run: Run, src: SourceRun, plan: _Plan, result: RunImport) -> None:
    for tag, first in plan.scalars.items():
        steps, values, walls = (c[first:] for c in src.scalars[tag].columns())
        run.log_points(tag, steps, values, walls)
        result.points += len(steps)
    for tag, first in plan.text.items():
        for step, wall, text in src.text[tag][first:]:
            run.log_text(tag, text, step=step, wall_time=wall)
            result.media += 1
    if plan.images:
        _write_images(run, src, plan, result)
    if plan.artifacts:
        with tempfile.TemporaryDirectory(prefix="labtrack-import-") as tmp:
            for i, artifact in enumerate(plan.artifacts):
                scratch = Path(tmp) / str(i)
                scratch.mkdir()
                local, metadata = artifact.fetch(scratch)
                kind: Any = artifact.kind  # one of the store's kinds, chosen by the importer
                run.log_artifact(local, name=artifact.name, kind=kind, metadata=metadata)
                result.media += 1
    if src.params:
        run.log_params(src.params)
    for key, value in src.summary.items():
        run.summary[key] = value


def _write_images(run: Run, src: SourceRun, plan: _Plan, result: RunImport) -> None:
    with tempfile.TemporaryDirectory(prefix="labtrack-import-") as tmp:
        for tag, first in plan.images.items():
            for i, (step, wall, data) in enumerate(src.images[tag][first:]):
                suffix = next((s for magic, s in _IMAGE_SUFFIXES if data.startswith(magic)), None)
                if suffix is None:
                    result.skipped["images in an unknown format"] = (
                        result.skipped.get("images in an unknown format", 0) + 1
                    )
                    continue
                path = Path(tmp) / f"{i}{suffix}"
                path.write_bytes(data)
                run.log_image(tag, path, step=step, wall_time=wall)
                result.media += 1
