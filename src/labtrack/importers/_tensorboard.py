"""TensorBoard event files -> labtrack runs, read with TensorBoard's own record reader and protos.

No TensorFlow and no sampling: the records come from ``tensorboard``'s stub ``PyRecordReader``
(which checks every CRC), each is parsed as an ``Event``, and every point is kept with its wall
time (``EventAccumulator`` keeps a reservoir sample by default and drops "orphaned" points after
a restart; we keep both kinds).

Carried: scalars (``simple_value`` and tensor-encoded, plugin ``scalars``), text (plugin ``text``),
images (``Summary.Image`` and the tensor form of plugin ``images``), hparams (plugin ``hparams``:
session-start hparams become the run's config). Counted in ``skipped`` and never silently
dropped: histograms, graphs, audio, run metadata, and summaries of any other plugin (by name).

A folder holding files with ``tfevents`` in their name is one run, its event files read in name
order (TensorBoard names them by creation time); its path relative to LOGDIR is the run's name.
A truncated last record (a writer still writing) ends that file quietly and is read on the next
import; a CRC mismatch or an unparsable record fails that run, naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import require
from ._base import ImportReport, ImportSourceError, SourceRun
from ._write import import_all, safe_experiment, store_dir

_SKIPPED_PLUGINS = {"histograms": "histograms", "audio": "audio", "pr_curves": "pr curves"}


def tensorboard(
    logdir: str | Path,
    into: str | Path | None = None,
    *,
    experiment: str | None = None,
    progress_bar: bool | None = None,
) -> ImportReport:
    """Import every run under a TensorBoard ``logdir`` into the store ``into``.

    >>> report = labtrack.importers.tensorboard("runs", into="out")   # doctest: +SKIP

    Args:
        logdir: a folder of event files, or of folders of them (any depth).
        into: the store directory (default ``$LABTRACK_DIR`` or ``./out``).
        experiment: the labtrack experiment (default: the logdir's folder name).
        progress_bar: show a progress bar (default: when stderr is a terminal).

    Returns:
        An :class:`ImportReport`; a run that could not be read is in ``report.failed`` with
        the file named, and every other run is imported.

    Raises:
        ImportSourceError: ``logdir`` is not a folder.
        MissingExtraError: ``tensorboard`` is not installed.
    """
    require("tensorboard", "tensorboard", "importing TensorBoard event files")
    root = Path(logdir).absolute()
    if not root.is_dir():
        raise ImportSourceError(f"TensorBoard logdir {logdir} is not a folder")
    experiment = experiment or safe_experiment(root.name, "tensorboard")

    def read(item: tuple[Path, list[Path]]) -> SourceRun:
        return read_run(item[0], item[1], experiment=experiment, name=_name(root, item[0]))

    def describe(item: tuple[Path, list[Path]]) -> tuple[str, str]:
        return str(item[0]), _name(root, item[0])

    folders = sorted(run_folders(root))
    return import_all(folders, read, describe, store_dir(into), f"importing {root}", progress_bar)


def _name(root: Path, folder: Path) -> str:
    rel = folder.relative_to(root).as_posix()
    return root.name if rel == "." else rel


def run_folders(root: Path) -> Iterator[tuple[Path, list[Path]]]:
    """Each folder under ``root`` holding event files, with them in name (creation) order."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        events = sorted(f for f in files if "tfevents" in f)
        if events:
            yield Path(folder), [Path(folder) / f for f in events]


class CorruptFileError(ImportSourceError):
    """An event file that cannot be read past some point (not a torn last record)."""


def read_records(path: Path) -> Iterator[bytes]:
    """The serialized records of one event file, by TensorBoard's own reader.

    A truncated last record ends the file (a writer may still be writing it); a CRC mismatch
    raises :class:`CorruptFileError` naming the file.
    """
    from tensorboard.compat.tensorflow_stub import errors
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New

    reader = PyRecordReader_New(os.fsencode(path), 0, b"", None)
    try:
        while True:
            try:
                reader.GetNext()
            except errors.OutOfRangeError:
                return
            except errors.DataLossError as exc:
                if "truncated record" in str(exc):
                    return
                raise CorruptFileError(f"corrupt event file {path}: {exc}") from None
            yield reader.record()
    finally:
        reader.file_handle.close()


def read_run(folder: Path, files: list[Path], *, experiment: str, name: str) -> SourceRun:
    """Read one run folder's event files whole into a :class:`SourceRun`."""
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
    from tensorboard.compat.proto import event_pb2

    src = SourceRun(key=str(folder), kind="tensorboard", experiment=experiment, name=name)
    plugins: dict[str, str] = {}  # tag -> plugin (metadata is written with a tag's first value)
    parse = event_pb2.Event.FromString
    for path in files:
        for record in read_records(path):
            try:
                event = parse(record)
            except DecodeError:
                raise CorruptFileError(
                    f"corrupt event file {path}: a record is not an Event"
                ) from None
            _take(src, event, plugins)
    return src


def _take(src: SourceRun, event: Any, plugins: dict[str, str]) -> None:
    what = event.WhichOneof("what")
    if what == "summary":
        step, wall = int(event.step), float(event.wall_time)
        for value in event.summary.value:
            _take_value(src, value, step, wall, plugins)
    elif what in ("graph_def", "meta_graph_def"):
        src.skip("graphs")
    elif what == "tagged_run_metadata":
        src.skip("run metadata")
    elif what == "log_message":
        src.skip("log messages")
    # file_version and session_log carry no data of the run; source_metadata names the writer


def _take_value(
    src: SourceRun, value: Any, step: int, wall: float, plugins: dict[str, str]
) -> None:
    tag = value.tag
    if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
        plugins[tag] = value.metadata.plugin_data.plugin_name
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        src.series(tag).add(step, value.simple_value, wall)
        return
    if kind == "image":
        src.images.setdefault(tag, []).append((step, wall, value.image.encoded_image_string))
        return
    if kind in ("histo", "obsolete_old_style_histogram"):
        src.skip("histograms")
        return
    if kind == "audio":
        src.skip("audio")
        return
    plugin = plugins.get(tag, "")
    if plugin == "hparams":  # its data is in the metadata; tensorboardX writes no value
        _take_hparams(src, value.metadata.plugin_data.content)
        return
    if kind != "tensor":
        return
    if plugin == "scalars":
        src.series(tag).add(step, _scalar(value.tensor), wall)
    elif plugin == "text":
        strings = [s.decode("utf-8", "replace") for s in value.tensor.string_val]
        src.text.setdefault(tag, []).append((step, wall, "\n".join(strings)))
    elif plugin == "images":
        # [width, height, image, image, ...]: one labtrack tag per sample beyond the first
        for i, data in enumerate(value.tensor.string_val[2:]):
            key = tag if i == 0 else f"{tag}/{i}"
            src.images.setdefault(key, []).append((step, wall, data))
    elif plugin in _SKIPPED_PLUGINS:
        src.skip(_SKIPPED_PLUGINS[plugin])
    elif plugin.startswith("graph"):
        src.skip("graphs")
    else:
        src.skip(f"{plugin or 'untyped tensor'} summaries")


def _scalar(tensor: Any) -> float:
    if tensor.float_val:
        return float(tensor.float_val[0])
    if tensor.double_val:
        return float(tensor.double_val[0])
    from tensorboard.util import tensor_util

    return float(tensor_util.make_ndarray(tensor).item())


def _take_hparams(src: SourceRun, content: bytes) -> None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    if data.WhichOneof("data") != "session_start_info":
        return  # the experiment's declared domains and the session end carry no values
    for key, proto in data.session_start_info.hparams.items():
        kind = proto.WhichOneof("kind")
        if kind == "number_value":
            src.config[key] = proto.number_value
        elif kind == "string_value":
            src.config[key] = proto.string_value
        elif kind == "bool_value":
            src.config[key] = proto.bool_value
